// hashvec prints test vectors for rpcx's ConsistentHash selector, computed with Go's own code, as
// JSON on stdout: for each named argument value, fmt.Sprint of it, the FNV-1a-64 key rpcx derives
// from "/"+path+"/"+method+"/"+fmt.Sprint(args), and the server edwingeng/doublejump picks after
// each step of a fixed sequence of additions and removals.
//
// rpcx's genKey is unexported, so key() below restates it; the program first checks the restated
// key against rpcx's exported JumpConsistentHash (which is genKey followed by client.Hash) for many
// bucket counts, and exits 1 if they ever disagree.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/edwingeng/doublejump"
	"github.com/smallnest/rpcx/client"
)

type Args struct {
	A int
	B int
}

func key(path, method string, args interface{}) uint64 {
	return client.HashString("/" + path + "/" + method + "/" + fmt.Sprint(args))
}

type step struct {
	Op     string `json:"op"` // "add" or "remove"
	Server string `json:"server"`
}

type result struct {
	Name   string   `json:"name"`
	Sprint string   `json:"sprint"`
	Hash   string   `json:"hash"`
	Picks  []string `json:"picks"` // the pick after each step
}

func main() {
	named := []struct {
		name string
		v    interface{}
	}{
		{"str", "user-42"}, {"empty", ""}, {"unicode", "日本語"}, {"int", 42}, {"neg", int64(-7)},
		{"float", 3.5}, {"big_float", 1e6}, {"small_float", 1e-5}, {"float_int", 100.0},
		{"true", true}, {"nil", nil}, {"slice", []string{"a", "b"}}, {"map", map[string]int{"b": 2, "a": 1}},
		{"struct_ptr", &Args{A: 10, B: 20}}, {"bytes", []byte("hi")}, {"mixed", []interface{}{"x", 1, 2.5, false}},
	}
	for i := 0; i < 200; i++ {
		named = append(named, struct {
			name string
			v    interface{}
		}{fmt.Sprintf("key-%d", i), fmt.Sprintf("key-%d", i)})
	}
	steps := []step{
		{"add", "tcp@s0"}, {"add", "tcp@s1"}, {"add", "tcp@s2"}, {"add", "tcp@s3"}, {"add", "tcp@s4"},
		{"remove", "tcp@s2"}, {"add", "tcp@s5"}, {"remove", "tcp@s0"}, {"remove", "tcp@s4"}, {"remove", "tcp@s5"},
		{"add", "tcp@s6"},
	}
	for _, n := range named {
		for b := 1; b <= 64; b++ {
			if int(client.Hash(key("Arith", "Mul", n.v), int32(b))) != client.JumpConsistentHash(b, "Arith", "Mul", n.v) {
				fmt.Fprintf(os.Stderr, "key() disagrees with rpcx's genKey for %s\n", n.name)
				os.Exit(1)
			}
		}
	}
	var out []result
	for _, n := range named {
		k := key("Arith", "Mul", n.v)
		h := doublejump.NewHash()
		var picks []string
		for _, s := range steps {
			if s.Op == "add" {
				h.Add(s.Server)
			} else {
				h.Remove(s.Server)
			}
			p, _ := h.Get(k).(string)
			picks = append(picks, p)
		}
		out = append(out, result{n.name, fmt.Sprint(n.v), fmt.Sprint(k), picks})
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(map[string]interface{}{"steps": steps, "results": out}); err != nil {
		os.Exit(1)
	}
}
