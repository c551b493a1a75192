// Package arith holds the Arith interop service shared by the Go peers
// (goserver, goclient, gengolden). See tests/interop/README.md.
package arith

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"
	"google.golang.org/protobuf/encoding/protowire"
)

// FailMessage is the exact error text returned by Arith.Fail.
const FailMessage = "arith failed on purpose"

// Args are the arguments of Mul, Add and Fail. Field names A and B are the
// wire names in JSON and MessagePack (Go's default struct encoding).
type Args struct {
	A int64
	B int64
}

// Reply is the result of Mul, Add and Fail (wire name C).
type Reply struct {
	C int64
}

// Marshal implements gogo proto.Marshaler, which rpcx's PBCodec tries first
// (codec/codec.go PBCodec.Encode). Encoding of proto3 `message Args { int64 A = 1; int64 B = 2; }`.
func (a *Args) Marshal() ([]byte, error) {
	var b []byte
	if a.A != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.A))
	}
	if a.B != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.B))
	}
	return b, nil
}

// Unmarshal implements gogo proto.Unmarshaler.
func (a *Args) Unmarshal(data []byte) error {
	*a = Args{}
	return decodeInt64Fields(data, func(num protowire.Number, v int64) {
		switch num {
		case 1:
			a.A = v
		case 2:
			a.B = v
		}
	})
}

// Marshal implements gogo proto.Marshaler for proto3 `message Reply { int64 C = 1; }`.
func (r *Reply) Marshal() ([]byte, error) {
	var b []byte
	if r.C != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.C))
	}
	return b, nil
}

// Unmarshal implements gogo proto.Unmarshaler.
func (r *Reply) Unmarshal(data []byte) error {
	*r = Reply{}
	return decodeInt64Fields(data, func(num protowire.Number, v int64) {
		if num == 1 {
			r.C = v
		}
	})
}

// decodeInt64Fields walks a protobuf message, handing every varint field to
// set (last value wins, as in proto3) and skipping unknown fields.
func decodeInt64Fields(data []byte, set func(protowire.Number, int64)) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
		if typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(data)
			if m < 0 {
				return protowire.ParseError(m)
			}
			set(num, int64(v))
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return protowire.ParseError(m)
		}
		data = data[m:]
	}
	return nil
}

// Arith is the interop service. Register it with
// s.RegisterName("Arith", &arith.Arith{Server: s}, "").
type Arith struct {
	// Server is used by Echo to push a message back when the request
	// metadata carries the key "push" (interop extension).
	Server *server.Server
}

// Mul sets C = A * B.
func (t *Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// Add sets C = A + B.
func (t *Arith) Add(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A + args.B
	return nil
}

// Fail always returns the service error "arith failed on purpose".
func (t *Arith) Fail(ctx context.Context, args *Args, reply *Reply) error {
	return errors.New(FailMessage)
}

// Echo returns the raw request bytes unchanged and copies request metadata
// key "k" into the response metadata. If request metadata has key "push",
// it first pushes one message Arith.Push (metadata push=<value>, payload =
// the request bytes) to the calling connection via Server.SendMessage.
func (t *Arith) Echo(ctx context.Context, args *[]byte, reply *[]byte) error {
	*reply = *args
	req, _ := ctx.Value(share.ReqMetaDataKey).(map[string]string)
	if v, ok := req["k"]; ok {
		if res, ok := ctx.Value(share.ResMetaDataKey).(map[string]string); ok {
			res["k"] = v
		}
	}
	if v, ok := req["push"]; ok {
		if t.Server == nil {
			return errors.New("push requested but no server configured")
		}
		conn, ok := ctx.Value(server.RemoteConnContextKey).(net.Conn)
		if !ok {
			return errors.New("push requested but no connection in context")
		}
		if err := t.Server.SendMessage(conn, "Arith", "Push", map[string]string{"push": v}, *args); err != nil {
			return fmt.Errorf("push failed: %w", err)
		}
	}
	return nil
}

// SplitAddress splits "network@address" at the first '@'. A key without '@'
// means tcp, as in rpcx.
func SplitAddress(s string) (network, address string) {
	if i := strings.Index(s, "@"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "tcp", s
}

// ParseArgs parses flags that may appear before or after positional
// arguments (Go's flag package stops at the first positional one) and
// returns the positional arguments.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
