// gengolden records real frames exchanged between a Go rpcx client and a Go
// rpcx server (both in this process, loopback TCP on free ports) and writes
// them as golden test vectors:
//
//	gengolden [--out DIR]
//
// DIR defaults to tests/golden next to this source tree. It writes one
// <name>.bin per frame (the exact bytes on the wire) and frames.json
// describing each frame as Go's protocol.Read decodes it. Every exchange
// uses a fresh connection, so client seqs start at 0, and at most one
// metadata key per frame (Go writes map entries in random order).
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/codec"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"

	"rpcxpy/interop/arith"
	"rpcxpy/interop/types"
)

const authToken = "secret-token"

// ---------------------------------------------------------------------------
// recording connection

type recorder struct {
	mu    sync.Mutex
	conns int
	out   bytes.Buffer // client -> server
	in    bytes.Buffer // server -> client
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.r.mu.Lock()
	c.r.in.Write(b[:n])
	c.r.mu.Unlock()
	return n, err
}

func (c *recConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.r.mu.Lock()
	c.r.out.Write(b[:n])
	c.r.mu.Unlock()
	return n, err
}

// ConnCreated implements client.ConnCreatedPlugin.
func (r *recorder) ConnCreated(conn net.Conn) (net.Conn, error) {
	r.mu.Lock()
	r.conns++
	r.mu.Unlock()
	return &recConn{Conn: conn, r: r}, nil
}

func (r *recorder) plugins() client.PluginContainer {
	pc := client.NewPluginContainer()
	pc.Add(r)
	return pc
}

// frames splits both streams into complete frames.
func (r *recorder) frames() (out, in [][]byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if out, _, err = splitFrames(r.out.Bytes()); err != nil {
		return nil, nil, err
	}
	if in, _, err = splitFrames(r.in.Bytes()); err != nil {
		return nil, nil, err
	}
	return out, in, nil
}

// waitFrames waits until at least nOut request and nIn inbound frames were seen.
func (r *recorder) waitFrames(nOut, nIn int) (out, in [][]byte, err error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, in, err = r.frames()
		if err != nil {
			return nil, nil, err
		}
		if len(out) >= nOut && len(in) >= nIn {
			return out, in, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("timed out: have %d/%d outbound and %d/%d inbound frames", len(out), nOut, len(in), nIn)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// splitFrames cuts a byte stream at frame boundaries: 16-byte prefix whose
// last 4 bytes are the big-endian length of the rest.
func splitFrames(b []byte) (frames [][]byte, rest []byte, err error) {
	for len(b) >= 16 {
		if b[0] != protocol.MagicNumber() {
			return nil, nil, fmt.Errorf("bad magic %#x at frame %d", b[0], len(frames))
		}
		n := 16 + int(binary.BigEndian.Uint32(b[12:16]))
		if len(b) < n {
			break
		}
		frames = append(frames, append([]byte(nil), b[:n]...))
		b = b[n:]
	}
	return frames, b, nil
}

// ---------------------------------------------------------------------------
// frames.json

type frameInfo struct {
	Name          string            `json:"name"`
	File          string            `json:"file"`
	Direction     string            `json:"direction"`
	Seq           uint64            `json:"seq"`
	MessageType   int               `json:"message_type"`
	Heartbeat     bool              `json:"heartbeat"`
	Oneway        bool              `json:"oneway"`
	Compress      int               `json:"compress"`
	Status        int               `json:"status"`
	Serialize     int               `json:"serialize"`
	ServicePath   string            `json:"service_path"`
	ServiceMethod string            `json:"service_method"`
	Metadata      map[string]string `json:"metadata"`
	PayloadHex    string            `json:"payload_hex"`
	WireHex       string            `json:"wire_hex"`
}

type generator struct {
	dir    string
	frames []frameInfo
	names  map[string]bool
}

// add decodes wire with rpcx's own protocol.Read and stores the frame.
func (g *generator) add(name, direction string, wire []byte) error {
	if g.names[name] {
		return fmt.Errorf("duplicate frame name %s", name)
	}
	g.names[name] = true
	rd := bytes.NewReader(wire)
	msg, err := protocol.Read(rd)
	if err != nil {
		return fmt.Errorf("%s: protocol.Read: %v", name, err)
	}
	if rd.Len() != 0 {
		return fmt.Errorf("%s: %d bytes left after protocol.Read", name, rd.Len())
	}
	md := map[string]string{}
	for k, v := range msg.Metadata {
		md[k] = v
	}
	if len(md) > 1 {
		return fmt.Errorf("%s: %d metadata keys; golden frames must have at most one", name, len(md))
	}
	file := name + ".bin"
	if err := os.WriteFile(filepath.Join(g.dir, file), wire, 0o644); err != nil {
		return err
	}
	g.frames = append(g.frames, frameInfo{
		Name:          name,
		File:          file,
		Direction:     direction,
		Seq:           msg.Seq(),
		MessageType:   int(msg.MessageType()),
		Heartbeat:     msg.IsHeartbeat(),
		Oneway:        msg.IsOneway(),
		Compress:      int(msg.CompressType()),
		Status:        int(msg.MessageStatusType()),
		Serialize:     int(msg.SerializeType()),
		ServicePath:   msg.ServicePath,
		ServiceMethod: msg.ServiceMethod,
		Metadata:      md,
		PayloadHex:    hex.EncodeToString(msg.Payload),
		WireHex:       hex.EncodeToString(wire),
	})
	return nil
}

// addAll stores frames under names; it fails if the counts differ.
func (g *generator) addAll(kind string, frames [][]byte, names []string, directions []string) error {
	if len(frames) != len(names) {
		return fmt.Errorf("%s: %d frames recorded, expected %d (%v)", kind, len(frames), len(names), names)
	}
	for i, f := range frames {
		if err := g.add(names[i], directions[i], f); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// exchanges

func newXClient(addr, path string, opt client.Option, rec *recorder, push chan *protocol.Message) client.XClient {
	d, _ := client.NewPeer2PeerDiscovery("tcp@"+addr, "")
	var xc client.XClient
	if push != nil {
		xc = client.NewBidirectionalXClient(path, client.Failtry, client.RandomSelect, d, opt, push)
	} else {
		xc = client.NewXClient(path, client.Failtry, client.RandomSelect, d, opt)
	}
	xc.SetPlugins(rec.plugins())
	return xc
}

// simple runs one request/response exchange and stores both frames.
func (g *generator) simple(addr, name, path string, opt client.Option, call func(xc client.XClient) error, wantErr string) error {
	rec := &recorder{}
	xc := newXClient(addr, path, opt, rec, nil)
	err := call(xc)
	if wantErr == "" && err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	if wantErr != "" && (err == nil || err.Error() != wantErr) {
		return fmt.Errorf("%s: error %v, want %q", name, err, wantErr)
	}
	out, in, err := rec.waitFrames(1, 1)
	xc.Close()
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	if rec.conns != 1 {
		return fmt.Errorf("%s: %d connections", name, rec.conns)
	}
	if err := g.addAll(name, out, []string{name + "_request"}, []string{"request"}); err != nil {
		return err
	}
	return g.addAll(name, in, []string{name + "_response"}, []string{"response"})
}

func mulCall(method string, a, b, want int64) func(xc client.XClient) error {
	return func(xc client.XClient) error {
		reply := &arith.Reply{}
		if err := xc.Call(context.Background(), method, &arith.Args{A: a, B: b}, reply); err != nil {
			return err
		}
		if reply.C != want {
			return fmt.Errorf("%s{%d,%d} = %d, want %d", method, a, b, reply.C, want)
		}
		return nil
	}
}

func echoCall(payload []byte, reqMeta map[string]string, check func(res map[string]string) error) func(xc client.XClient) error {
	return func(xc client.XClient) error {
		ctx := context.Background()
		if reqMeta != nil {
			ctx = context.WithValue(ctx, share.ReqMetaDataKey, reqMeta)
		}
		res := map[string]string{}
		ctx = context.WithValue(ctx, share.ResMetaDataKey, res)
		var reply []byte
		if err := xc.Call(ctx, "Echo", &payload, &reply); err != nil {
			return err
		}
		if !bytes.Equal(reply, payload) {
			return fmt.Errorf("echo returned %d bytes, want %d", len(reply), len(payload))
		}
		if check != nil {
			return check(res)
		}
		return nil
	}
}

// emptyArgs makes the client send a zero-byte payload (through emptyingCodec), to record what a
// Go server answers to one.
type emptyArgs struct{}

// emptyingCodec is share.Codecs' codec, except that *emptyArgs encodes to no bytes at all.
type emptyingCodec struct{ inner codec.Codec }

func (c emptyingCodec) Encode(i interface{}) ([]byte, error) {
	if _, ok := i.(*emptyArgs); ok {
		return []byte{}, nil
	}
	return c.inner.Encode(i)
}

func (c emptyingCodec) Decode(data []byte, i interface{}) error { return c.inner.Decode(data, i) }

func emptyCall(xc client.XClient) error {
	return xc.Call(context.Background(), "Mul", &emptyArgs{}, &arith.Reply{})
}

func itemCall(item *types.Item) func(xc client.XClient) error {
	return func(xc client.XClient) error {
		var got types.Item
		if err := xc.Call(context.Background(), "EchoItem", item, &got); err != nil {
			return err
		}
		if got.SKU != item.SKU || got.Name != item.Name || !got.Updated.Equal(item.Updated) {
			return fmt.Errorf("EchoItem returned %#v", got)
		}
		return nil
	}
}

func startServer(auth string) (*server.Server, string, error) {
	s := server.NewServer()
	if auth != "" {
		s.AuthFunc = func(ctx context.Context, req *protocol.Message, token string) error {
			if token == auth {
				return nil
			}
			return errors.New("invalid token")
		}
	}
	if err := s.RegisterName("Arith", &arith.Arith{Server: s}, ""); err != nil {
		return nil, "", err
	}
	if err := s.RegisterName("Types", new(types.Types), ""); err != nil {
		return nil, "", err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve("tcp", "127.0.0.1:0") }()
	select {
	case <-s.Started:
	case err := <-errc:
		return nil, "", err
	}
	return s, s.Address().String(), nil
}

func defaultOut() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "golden"
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "golden")
}

func main() {
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "rpcx ", stdlog.LstdFlags, log.LvError))
	out := flag.String("out", defaultOut(), "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gengolden:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// remove old outputs so stale vectors do not linger
	old, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	g := &generator{dir: dir, names: map[string]bool{}}
	for _, st := range []protocol.SerializeType{protocol.JSON, protocol.MsgPack} {
		share.Codecs[st] = emptyingCodec{inner: share.Codecs[st]}
	}

	s, addr, err := startServer("")
	if err != nil {
		return err
	}
	defer s.Close()
	sa, authAddr, err := startServer(authToken)
	if err != nil {
		return err
	}
	defer sa.Close()

	opt := func(st protocol.SerializeType) client.Option {
		o := client.DefaultOption
		o.SerializeType = st
		return o
	}

	steps := []func() error{
		func() error {
			return g.simple(addr, "msgpack_mul", "Arith", client.DefaultOption, mulCall("Mul", 10, 20, 200), "")
		},
		func() error {
			return g.simple(addr, "json_mul", "Arith", opt(protocol.JSON), mulCall("Mul", 10, 20, 200), "")
		},
		func() error {
			return g.simple(addr, "protobuf_mul", "Arith", opt(protocol.ProtoBuffer), mulCall("Mul", 10, 20, 200), "")
		},
		func() error {
			return g.simple(addr, "msgpack_add_negative", "Arith", opt(protocol.MsgPack), mulCall("Add", 7, -3, 4), "")
		},
		func() error {
			return g.simple(addr, "protobuf_add_negative", "Arith", opt(protocol.ProtoBuffer), mulCall("Add", 7, -3, 4), "")
		},
		func() error {
			return g.simple(addr, "raw_echo_meta", "Arith", opt(protocol.SerializeNone),
				echoCall([]byte("hello"), map[string]string{"k": "v"}, func(res map[string]string) error {
					if res["k"] != "v" {
						return fmt.Errorf("response metadata %v", res)
					}
					return nil
				}), "")
		},
		func() error {
			return g.simple(addr, "fail", "Arith", client.DefaultOption, mulCall("Fail", 1, 2, 0), arith.FailMessage)
		},
		func() error {
			return g.simple(addr, "unknown_service", "Nope", client.DefaultOption, mulCall("Mul", 1, 2, 2), "rpcx: can't find service Nope")
		},
		func() error {
			return g.simple(addr, "unknown_method", "Arith", client.DefaultOption, mulCall("Nope", 1, 2, 2), "rpcx: can't find method Nope")
		},
		func() error {
			o := opt(protocol.SerializeNone)
			o.CompressType = protocol.Gzip
			payload := bytes.Repeat([]byte("rpcx-python "), 4096/12+1)[:4096]
			return g.simple(addr, "gzip_echo", "Arith", o, echoCall(payload, nil, nil), "")
		},
		func() error {
			return g.simple(addr, "json_empty_payload", "Arith", opt(protocol.JSON), emptyCall, "EOF")
		},
		func() error {
			return g.simple(addr, "msgpack_empty_payload", "Arith", opt(protocol.MsgPack), emptyCall, "EOF")
		},
		func() error {
			item := &types.Item{SKU: "<a&b>", Name: "line\u2028sep\u2029", Updated: types.When}
			return g.simple(addr, "json_escape", "Types", opt(protocol.JSON), itemCall(item), "")
		},
		func() error { return g.oneway(addr) },
		func() error { return g.heartbeat(addr) },
		func() error { return g.push(addr) },
		func() error {
			return g.simple(authAddr, "auth", "Arith", opt(protocol.SerializeNone), func(xc client.XClient) error {
				xc.Auth(authToken)
				return echoCall([]byte("authed"), nil, nil)(xc)
			}, "")
		},
		func() error {
			return g.simple(authAddr, "auth_fail", "Arith", opt(protocol.SerializeNone), func(xc client.XClient) error {
				xc.Auth("wrong-token")
				return echoCall([]byte("not-authed"), nil, nil)(xc)
			}, "invalid token")
		},
	}
	items := types.SampleItems()
	for _, name := range []string{"time", "nil", "empty"} {
		for _, st := range []protocol.SerializeType{protocol.MsgPack, protocol.JSON} {
			prefix := map[protocol.SerializeType]string{protocol.MsgPack: "msgpack", protocol.JSON: "json"}[st]
			item, exch := items[name], prefix+"_item_"+name
			o := opt(st)
			steps = append(steps, func() error { return g.simple(addr, exch, "Types", o, itemCall(item), "") })
		}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}

	data, err := json.MarshalIndent(g.frames, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := os.WriteFile(filepath.Join(dir, "frames.json"), data, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %d frames to %s\n", len(g.frames), dir)
	return nil
}

func (g *generator) oneway(addr string) error {
	rec := &recorder{}
	o := client.DefaultOption
	o.SerializeType = protocol.SerializeNone
	xc := newXClient(addr, "Arith", o, rec, nil)
	payload := []byte("oneway")
	if err := xc.Oneshot(context.Background(), "Echo", &payload); err != nil {
		return fmt.Errorf("oneway: %v", err)
	}
	out, _, err := rec.waitFrames(1, 0)
	if err != nil {
		return fmt.Errorf("oneway: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the server must not answer
	_, in, _ := rec.frames()
	xc.Close()
	if len(in) != 0 {
		return fmt.Errorf("oneway: server answered with %d frames", len(in))
	}
	return g.addAll("oneway", out, []string{"oneway_request"}, []string{"request"})
}

// heartbeat uses a plain Client with heartbeats on and makes no call, so the
// first heartbeat is the connection's first frame (seq 0).
func (g *generator) heartbeat(addr string) error {
	rec := &recorder{}
	o := client.DefaultOption
	o.Heartbeat = true
	o.HeartbeatInterval = 50 * time.Millisecond
	o.MaxWaitForHeartbeat = time.Second
	c := client.NewClient(o)
	c.Plugins = rec.plugins()
	if err := c.Connect("tcp", addr); err != nil {
		return fmt.Errorf("heartbeat: %v", err)
	}
	out, in, err := rec.waitFrames(1, 1)
	c.Close()
	if err != nil {
		return fmt.Errorf("heartbeat: %v", err)
	}
	// later heartbeats may have gone out before Close: keep the first pair
	if err := g.add("heartbeat_request", "request", out[0]); err != nil {
		return err
	}
	return g.add("heartbeat_response", "response", in[0])
}

// push: Echo with metadata push=p1 makes the server push Arith.Push before
// it answers, so the inbound stream is push frame, then response.
func (g *generator) push(addr string) error {
	rec := &recorder{}
	ch := make(chan *protocol.Message, 10)
	o := client.DefaultOption
	o.SerializeType = protocol.SerializeNone
	xc := newXClient(addr, "Arith", o, rec, ch)
	if err := echoCall([]byte("pushed-bytes"), map[string]string{"push": "p1"}, nil)(xc); err != nil {
		return fmt.Errorf("push: %v", err)
	}
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		return errors.New("push: no push message received")
	}
	out, in, err := rec.waitFrames(1, 2)
	xc.Close()
	if err != nil {
		return fmt.Errorf("push: %v", err)
	}
	if err := g.addAll("push", out, []string{"push_echo_request"}, []string{"request"}); err != nil {
		return err
	}
	return g.addAll("push", in, []string{"push", "push_echo_response"}, []string{"push", "response"})
}
