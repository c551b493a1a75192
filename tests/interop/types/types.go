// Package types holds the "types across the wire" interop service: a struct
// carrying every row of docs/types.md, echoed by Go and by Python, shared by
// gotypes and gengolden. See tests/interop/README.md.
package types

import (
	"context"
	"time"
)

// Base is embedded in Everything: its fields travel flattened, as Go's
// encoding/json and vmihailenco/msgpack both write embedded structs.
type Base struct {
	ID   int64
	Note string
}

// Item is the Inventory item: nested, self-referencing through Parent.
type Item struct {
	SKU     string
	Name    string
	Price   float64
	Tags    []string
	Attrs   map[string]int
	Image   []byte
	Updated time.Time
	Parent  *Item
}

// Everything has one field per row of the type table.
type Everything struct {
	Base
	B       bool
	I       int
	I8      int8
	I16     int16
	I32     int32
	I64     int64
	U       uint
	U8      uint8
	U16     uint16
	U32     uint32
	U64     uint64
	F32     float32
	F64     float64
	S       string
	Bytes   []byte
	Strs    []string
	Arr     [3]int32
	IntMap  map[string]int64
	ByInt   map[int]string
	Ptr     *int64
	Nested  Item
	Items   []Item
	When    time.Time
	Wait    time.Duration
	Any     interface{}
	Renamed string `json:"renamed_field" msgpack:"renamed_field"`
}

// Types is the service: every method returns its argument unchanged.
type Types struct{}

// Echo returns the Everything it was given.
func (Types) Echo(ctx context.Context, args *Everything, reply *Everything) error {
	*reply = *args
	return nil
}

// EchoItem returns the Item it was given.
func (Types) EchoItem(ctx context.Context, args *Item, reply *Item) error {
	*reply = *args
	return nil
}

// When is the fixed instant the samples use: nanoseconds set, so a peer that
// drops them is caught.
var When = time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC)

func i64(v int64) *int64 { return &v }

// Samples are the values gotypes sends through a peer: every field set, all
// nil, all empty-but-not-nil, and the extremes of every width.
func Samples() map[string]*Everything {
	full := &Everything{
		Base: Base{ID: 7, Note: "<b>&\u2028"},
		B:    true, I: -42, I8: -128, I16: 32767, I32: -2147483648, I64: 1 << 62,
		U: 1 << 40, U8: 255, U16: 65535, U32: 4294967295, U64: 18446744073709551615,
		F32: 1.5, F64: 3.141592653589793, S: "héllo, 世界",
		Bytes: []byte{0, 1, 2, 255}, Strs: []string{"a", "", "c"}, Arr: [3]int32{1, -2, 3},
		IntMap: map[string]int64{"x": 1, "y": -1}, ByInt: map[int]string{1: "one", 10: "ten", 2: "two"},
		Ptr: i64(99),
		Nested: Item{SKU: "SKU-1", Name: "child", Price: 9.99, Tags: []string{"t"}, Attrs: map[string]int{"w": 3},
			Image: []byte("img"), Updated: When,
			Parent: &Item{SKU: "SKU-0", Name: "parent", Updated: When.Add(-time.Hour)}},
		Items: []Item{{SKU: "a", Updated: When}, {SKU: "b", Tags: []string{}}},
		When:  When, Wait: 1500 * time.Millisecond, Any: "anything", Renamed: "by tag",
	}
	empty := &Everything{
		Bytes: []byte{}, Strs: []string{}, IntMap: map[string]int64{}, ByInt: map[int]string{},
		Ptr: i64(0), Items: []Item{}, When: When,
		Nested: Item{Tags: []string{}, Attrs: map[string]int{}, Image: []byte{}, Updated: When},
	}
	return map[string]*Everything{
		"full":  full,
		"nil":   &Everything{},
		"empty": empty,
		"min": &Everything{I: -9223372036854775808, I8: -128, I16: -32768, I32: -2147483648,
			I64: -9223372036854775808, F32: -3.4028234663852886e38, F64: -1.7976931348623157e308, Wait: -1,
			When: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
		"max": &Everything{I: 9223372036854775807, I8: 127, I16: 32767, I32: 2147483647,
			I64: 9223372036854775807, U: 18446744073709551615, U8: 255, U16: 65535, U32: 4294967295,
			U64: 18446744073709551615, F32: 3.4028234663852886e38, F64: 1.7976931348623157e308,
			Wait: 9223372036854775807, When: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
}

// SampleItems are the Item values of the golden frames (fixed, nothing random).
func SampleItems() map[string]*Item {
	return map[string]*Item{
		"time": {SKU: "T-1", Name: "clock", Price: 2.5, Tags: []string{"x"}, Attrs: map[string]int{"n": 1},
			Image: []byte{1, 2}, Updated: When},
		"nil":   {SKU: "N-1", Updated: time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)},
		"empty": {SKU: "E-1", Tags: []string{}, Attrs: map[string]int{}, Image: []byte{}, Updated: When},
	}
}
