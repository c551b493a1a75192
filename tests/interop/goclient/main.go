// goclient calls the Arith interop service with the real Go rpcx client.
//
//	goclient ADDRESS [--codec json|msgpack|protobuf|raw] [--tls [--insecure] [--ca F]]
//	                 [--auth TOKEN] [--kcp-key PASS] [--suite [--only NAME,NAME]] [--rpc-path /PATH]
//	                 [--upload F [--rate N]] [--download NAME --save-to F] [--stream-echo N] [--side-meta KEY]
//	goclient - --registry URL [--base-path P] ...   (goclient-registry build only)
//
// Without --suite it calls Arith.Mul{10,20} and prints "10 * 20 = 200"
// (with --codec raw it calls Arith.Echo("hello") and prints "echo: hello").
// With --suite it runs the interop checks and prints one line per check
// ("ok NAME", "FAIL NAME: reason", "skip NAME: reason", plus optional
// "info NAME: ...") and a final "suite: X ok, Y failed". See README.md.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"

	"rpcxpy/interop/arith"
)

const callTimeout = 10 * time.Second

var codecs = map[string]protocol.SerializeType{
	"raw":      protocol.SerializeNone,
	"json":     protocol.JSON,
	"protobuf": protocol.ProtoBuffer,
	"msgpack":  protocol.MsgPack,
}

type config struct {
	addr      string
	codecName string
	codec     protocol.SerializeType
	tls       *tls.Config
	auth      string
	kcpBlock  interface{}
	rpcPath   string
	// with --registry (ADDRESS is "-"): the discovery of a service path
	discover func(path string) (client.ServiceDiscovery, error)
}

func (c *config) raw() bool { return c.codec == protocol.SerializeNone }

// option returns a client.Option with the chosen serialize type and TLS.
func (c *config) option(serialize protocol.SerializeType) client.Option {
	opt := client.DefaultOption
	opt.SerializeType = serialize
	opt.TLSConfig = c.tls
	opt.Block = c.kcpBlock
	if c.rpcPath != "" {
		opt.RPCPath = c.rpcPath
	}
	return opt
}

// xclient builds an XClient (Failtry, RandomSelect, peer2peer discovery of
// ADDRESS) carrying the --auth token, with the given plugins.
func (c *config) xclient(path string, opt client.Option, plugins ...client.Plugin) client.XClient {
	var d client.ServiceDiscovery
	if c.discover != nil {
		var err error
		if d, err = c.discover(path); err != nil {
			fmt.Fprintln(os.Stderr, "goclient:", err)
			os.Exit(1)
		}
	} else {
		d, _ = client.NewPeer2PeerDiscovery(c.addr, "")
	}
	xc := client.NewXClient(path, client.Failtry, client.RandomSelect, d, opt)
	c.setup(xc, plugins)
	return xc
}

func (c *config) setup(xc client.XClient, plugins []client.Plugin) {
	if len(plugins) > 0 {
		pc := client.NewPluginContainer()
		for _, p := range plugins {
			pc.Add(p)
		}
		xc.SetPlugins(pc)
	}
	if c.auth != "" {
		xc.Auth(c.auth)
	}
}

// newRegistryDiscovery finds service at the --registry URL, waiting up to wait for a first server;
// set by registry.go in the goclient-registry build only.
var newRegistryDiscovery func(registry, basePath, service string, wait time.Duration) (client.ServiceDiscovery, error)

func usage(fs *flag.FlagSet) {
	fmt.Fprintln(os.Stderr, "usage: goclient ADDRESS [--codec json|msgpack|protobuf|raw] [--tls [--insecure] [--ca F]] [--auth TOKEN] [--suite [--only NAME,NAME]]")
	fs.PrintDefaults()
}

func main() {
	// rpcx logs to stdout by default; keep stdout for results.
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "rpcx ", stdlog.LstdFlags|stdlog.Lmicroseconds, log.LvError))

	fs := flag.NewFlagSet("goclient", flag.ContinueOnError)
	codecName := fs.String("codec", "msgpack", "serialize type for struct calls: json|msgpack|protobuf|raw")
	useTLS := fs.Bool("tls", false, "connect with TLS")
	insecure := fs.Bool("insecure", false, "with --tls: skip certificate verification")
	caFile := fs.String("ca", "", "with --tls: PEM file of CA certificates to trust (extension)")
	auth := fs.String("auth", "", "send this __AUTH token (XClient.Auth)")
	suite := fs.Bool("suite", false, "run the interop check suite")
	rpcPath := fs.String("rpc-path", "", "Option.RPCPath: the http@ CONNECT and ws@ path (default /_rpcx_)")
	registry := fs.String("registry", "", "ADDRESS is -: find Arith at redis://|etcd://|zookeeper://H:P or mdns:// (goclient-registry build)")
	basePath := fs.String("base-path", "/rpcx_test", "with --registry: the registry base path")
	only := fs.String("only", "", "with --suite: comma-separated checks to run")
	side := &sideFlags{}
	fs.StringVar(&side.upload, "upload", "", "XClient.SendFile this file to _filetransfer (side.go)")
	fs.Int64Var(&side.rate, "rate", 0, "with --upload: bytes per second (0: unlimited)")
	fs.StringVar(&side.download, "download", "", "XClient.DownloadFile this name from _filetransfer into --save-to")
	fs.StringVar(&side.saveTo, "save-to", "", "with --download: the file to write")
	fs.IntVar(&side.streamEcho, "stream-echo", 0, "XClient.Stream, send this many random bytes, expect them echoed")
	fs.StringVar(&side.meta, "side-meta", "", "with the side flags: send meta {KEY: \"1\"}")
	kcpKey := fs.String("kcp-key", "rpcx-key", "kcp@: the block crypt password (pbkdf2-sha1, salt rpcx-salt, AES-256)")
	fs.Usage = func() { usage(fs) }
	pos, err := arith.ParseArgs(fs, os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	if len(pos) != 1 {
		usage(fs)
		os.Exit(2)
	}
	st, ok := codecs[*codecName]
	if !ok {
		fmt.Fprintf(os.Stderr, "goclient: unknown codec %q\n", *codecName)
		os.Exit(2)
	}
	cfg := &config{addr: pos[0], codecName: *codecName, codec: st, auth: *auth, rpcPath: *rpcPath}
	if (cfg.addr == "-") != (*registry != "") {
		fmt.Fprintln(os.Stderr, "goclient: ADDRESS is - exactly when --registry is given")
		os.Exit(2)
	}
	if *registry != "" {
		if newRegistryDiscovery == nil {
			fmt.Fprintln(os.Stderr, "goclient: --registry needs the goclient-registry build (tests/interop/build.sh)")
			os.Exit(2)
		}
		// Arith's discovery first, so an unreachable registry fails at start; it waits a few
		// seconds for a first server, as the contract says (the other paths are the suite's)
		arithDisc, err := newRegistryDiscovery(*registry, *basePath, "Arith", 10*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goclient:", err)
			os.Exit(1)
		}
		cfg.discover = func(path string) (client.ServiceDiscovery, error) {
			if path == "Arith" && arithDisc != nil {
				d := arithDisc
				arithDisc = nil // an XClient's Close stops its discovery's watchers: one each
				return d, nil
			}
			return newRegistryDiscovery(*registry, *basePath, path, 0)
		}
	} else if !strings.Contains(cfg.addr, "@") {
		cfg.addr = "tcp@" + cfg.addr
	}
	if strings.HasPrefix(cfg.addr, "kcp@") {
		block, err := arith.KCPBlock(*kcpKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goclient:", err)
			os.Exit(2)
		}
		cfg.kcpBlock = block
	}
	if *useTLS {
		tc := &tls.Config{InsecureSkipVerify: *insecure}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "goclient:", err)
				os.Exit(2)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				fmt.Fprintln(os.Stderr, "goclient: no certificates in", *caFile)
				os.Exit(2)
			}
			tc.RootCAs = pool
		}
		cfg.tls = tc
	}

	if side.any() {
		os.Exit(runSide(cfg, side))
	}
	if *suite {
		var sel map[string]bool
		if *only != "" {
			sel = map[string]bool{}
			for _, n := range strings.Split(*only, ",") {
				if n = strings.TrimSpace(n); n != "" {
					sel[n] = true
				}
			}
		}
		os.Exit(runSuite(cfg, sel))
	}
	os.Exit(runSimple(cfg))
}

func runSimple(cfg *config) int {
	watchdog := time.AfterFunc(30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "goclient: timed out")
		os.Exit(1)
	})
	defer watchdog.Stop()

	xc := cfg.xclient("Arith", cfg.option(cfg.codec))
	defer xc.Close()
	ctx := context.Background()
	if cfg.raw() {
		payload := []byte("hello")
		var reply []byte
		if err := xc.Call(ctx, "Echo", &payload, &reply); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("echo: %s\n", reply)
		return 0
	}
	args := &arith.Args{A: 10, B: 20}
	reply := &arith.Reply{}
	if err := xc.Call(ctx, "Mul", args, reply); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d * %d = %d\n", args.A, args.B, reply.C)
	return 0
}

// ---------------------------------------------------------------------------
// counting plugin

// counter is a client plugin: it wraps each new connection to count bytes,
// counts connections, and checks heartbeat echoes.
type counter struct {
	conns   atomic.Int32
	read    atomic.Int64
	written atomic.Int64

	mu        sync.Mutex
	hbSent    map[uint64][]byte
	hbOK      int
	hbBad     int
	hbBadNote string
}

type countingConn struct {
	net.Conn
	p *counter
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.p.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.p.written.Add(int64(n))
	return n, err
}

// ConnCreated implements client.ConnCreatedPlugin.
func (p *counter) ConnCreated(conn net.Conn) (net.Conn, error) {
	p.conns.Add(1)
	return &countingConn{Conn: conn, p: p}, nil
}

// ClientBeforeEncode implements client.ClientBeforeEncodePlugin.
func (p *counter) ClientBeforeEncode(m *protocol.Message) error {
	if m.IsHeartbeat() {
		p.mu.Lock()
		if p.hbSent == nil {
			p.hbSent = map[uint64][]byte{}
		}
		p.hbSent[m.Seq()] = append([]byte(nil), m.Payload...)
		p.mu.Unlock()
	}
	return nil
}

// ClientAfterDecode implements client.ClientAfterDecodePlugin.
func (p *counter) ClientAfterDecode(m *protocol.Message) error {
	if !m.IsHeartbeat() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sent, ok := p.hbSent[m.Seq()]
	delete(p.hbSent, m.Seq())
	switch {
	case !ok:
		p.hbBad++
		p.hbBadNote = fmt.Sprintf("heartbeat reply with unknown seq %d", m.Seq())
	case m.MessageType() != protocol.Response:
		p.hbBad++
		p.hbBadNote = "heartbeat reply is not marked Response"
	case m.SerializeType() != protocol.MsgPack:
		p.hbBad++
		p.hbBadNote = fmt.Sprintf("heartbeat reply serialize type %d, want 3", m.SerializeType())
	case !bytes.Equal(sent, m.Payload):
		p.hbBad++
		p.hbBadNote = fmt.Sprintf("heartbeat payload %x echoed as %x", sent, m.Payload)
	default:
		p.hbOK++
	}
	return nil
}

func (p *counter) heartbeats() (ok, bad int, note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hbOK, p.hbBad, p.hbBadNote
}

// ---------------------------------------------------------------------------
// suite

type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

func skip(format string, a ...any) error { return skipError{fmt.Sprintf(format, a...)} }

type check struct {
	name string
	run  func(cfg *config) error
}

var checks = []check{
	{"mul", checkMul},
	{"add", checkAdd},
	{"big", checkBig},
	{"fail", checkFail},
	{"unknown_service", checkUnknownService},
	{"unknown_method", checkUnknownMethod},
	{"metadata", checkMetadata},
	{"gzip", checkGzip},
	{"gzip_1mib", checkGzip1MiB},
	{"oneway", checkOneway},
	{"heartbeat", checkHeartbeat},
	{"concurrent", checkConcurrent},
	{"push", checkPush},
	{"auth", checkAuth},
}

func info(name, format string, a ...any) {
	fmt.Printf("info %s: %s\n", name, fmt.Sprintf(format, a...))
}

func runSuite(cfg *config, sel map[string]bool) int {
	known := map[string]bool{}
	for _, c := range checks {
		known[c.name] = true
	}
	for n := range sel {
		if !known[n] {
			fmt.Fprintf(os.Stderr, "goclient: unknown check %q\n", n)
			return 2
		}
	}
	okN, failN := 0, 0
	for _, c := range checks {
		if sel != nil && !sel[c.name] {
			continue
		}
		err := runCheck(cfg, c)
		var se skipError
		switch {
		case err == nil:
			okN++
			fmt.Printf("ok %s\n", c.name)
		case errors.As(err, &se):
			fmt.Printf("skip %s: %s\n", c.name, se.reason)
		default:
			failN++
			fmt.Printf("FAIL %s: %s\n", c.name, oneLine(err.Error()))
		}
	}
	fmt.Printf("suite: %d ok, %d failed\n", okN, failN)
	if failN > 0 {
		return 1
	}
	return 0
}

// runCheck runs one check with a hard time limit so a hung peer cannot
// stall the suite.
func runCheck(cfg *config, c check) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- c.run(cfg)
	}()
	select {
	case err = <-done:
		return err
	case <-time.After(60 * time.Second):
		return errors.New("check timed out after 60s")
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", `\r`)
	return strings.ReplaceAll(s, "\n", `\n`)
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

func needStructCodec(cfg *config) error {
	if cfg.raw() {
		return skip("needs a struct codec (--codec raw only has Echo-based checks)")
	}
	return nil
}

func arithCall(cfg *config, method string, a, b int64) (int64, error) {
	xc := cfg.xclient("Arith", cfg.option(cfg.codec))
	defer xc.Close()
	ctx, cancel := callCtx()
	defer cancel()
	reply := &arith.Reply{}
	err := xc.Call(ctx, method, &arith.Args{A: a, B: b}, reply)
	return reply.C, err
}

func expectArith(cfg *config, method string, a, b, want int64) error {
	if err := needStructCodec(cfg); err != nil {
		return err
	}
	got, err := arithCall(cfg, method, a, b)
	if err != nil {
		return fmt.Errorf("%s{%d,%d}: %v", method, a, b, err)
	}
	if got != want {
		return fmt.Errorf("%s{%d,%d} = %d, want %d", method, a, b, got, want)
	}
	return nil
}

func checkMul(cfg *config) error { return expectArith(cfg, "Mul", 10, 20, 200) }
func checkAdd(cfg *config) error { return expectArith(cfg, "Add", 7, -3, 4) }
func checkBig(cfg *config) error { return expectArith(cfg, "Mul", 1<<31, 4, 1<<33) }

func expectServiceError(err error, want string) error {
	if err == nil {
		return fmt.Errorf("no error, want %q", want)
	}
	if err.Error() != want {
		return fmt.Errorf("error %q (%T), want %q", err.Error(), err, want)
	}
	var se client.ServiceError
	if !errors.As(err, &se) || !se.IsServiceError() {
		return fmt.Errorf("error %q is %T, not a ServiceError", err.Error(), err)
	}
	return nil
}

func checkFail(cfg *config) error {
	if err := needStructCodec(cfg); err != nil {
		return err
	}
	_, err := arithCall(cfg, "Fail", 1, 2)
	return expectServiceError(err, arith.FailMessage)
}

// callPathMethod calls path.method with codec args (struct or raw bytes).
func callPathMethod(cfg *config, path, method string) error {
	xc := cfg.xclient(path, cfg.option(cfg.codec))
	defer xc.Close()
	ctx, cancel := callCtx()
	defer cancel()
	if cfg.raw() {
		payload := []byte("x")
		var reply []byte
		return xc.Call(ctx, method, &payload, &reply)
	}
	return xc.Call(ctx, method, &arith.Args{A: 1, B: 2}, &arith.Reply{})
}

func checkUnknownService(cfg *config) error {
	return expectServiceError(callPathMethod(cfg, "Nope", "Mul"), "rpcx: can't find service Nope")
}

func checkUnknownMethod(cfg *config) error {
	return expectServiceError(callPathMethod(cfg, "Arith", "Nope"), "rpcx: can't find method Nope")
}

// echo calls Arith.Echo with raw serialization.
func echo(xc client.XClient, payload []byte, reqMeta, resMeta map[string]string) ([]byte, error) {
	ctx, cancel := callCtx()
	defer cancel()
	var c context.Context = ctx
	if reqMeta != nil {
		c = context.WithValue(c, share.ReqMetaDataKey, reqMeta)
	}
	if resMeta != nil {
		c = context.WithValue(c, share.ResMetaDataKey, resMeta)
	}
	var reply []byte
	err := xc.Call(c, "Echo", &payload, &reply)
	return reply, err
}

func checkMetadata(cfg *config) error {
	xc := cfg.xclient("Arith", cfg.option(protocol.SerializeNone))
	defer xc.Close()
	payload := []byte("metadata-check")
	res := map[string]string{}
	got, err := echo(xc, payload, map[string]string{"k": "v1", "other": "x"}, res)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo %q, want %q", got, payload)
	}
	if res["k"] != "v1" {
		return fmt.Errorf("response metadata k=%q, want \"v1\" (response metadata %v)", res["k"], res)
	}
	if v, ok := res["other"]; ok {
		return fmt.Errorf("response metadata has key other=%q; only k is copied", v)
	}
	return nil
}

func compressible(n int) []byte {
	return bytes.Repeat([]byte("rpcx-python "), n/12+1)[:n]
}

func checkGzip(cfg *config) error {
	cnt := &counter{}
	opt := cfg.option(protocol.SerializeNone)
	opt.CompressType = protocol.Gzip
	xc := cfg.xclient("Arith", opt, cnt)
	defer xc.Close()
	// small call first: connects, and a payload <= 1024 bytes is not compressed
	if got, err := echo(xc, []byte("warm-up"), nil, nil); err != nil || string(got) != "warm-up" {
		return fmt.Errorf("warm-up echo %q: %v", got, err)
	}
	payload := compressible(4096)
	r0, w0 := cnt.read.Load(), cnt.written.Load()
	got, err := echo(xc, payload, nil, nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("gzip echo returned %d bytes, not the 4096 sent", len(got))
	}
	rd, wr := cnt.read.Load()-r0, cnt.written.Load()-w0
	info("gzip", "request frame %d bytes, response frame %d bytes for a 4096-byte payload", wr, rd)
	if wr >= 2048 {
		return fmt.Errorf("request used %d bytes on the wire; the client did not compress", wr)
	}
	if rd >= 2048 {
		return fmt.Errorf("response used %d bytes on the wire; the server did not compress", rd)
	}
	if n := cnt.conns.Load(); n != 1 {
		return fmt.Errorf("%d connections made, want 1", n)
	}
	return nil
}

// checkGzip1MiB echoes 1 MiB with gzip both ways on one connection: the interop matrix's large
// compressed payload (a frame far larger than any transport's packet or buffer).
func checkGzip1MiB(cfg *config) error {
	cnt := &counter{}
	opt := cfg.option(protocol.SerializeNone)
	opt.CompressType = protocol.Gzip
	xc := cfg.xclient("Arith", opt, cnt)
	defer xc.Close()
	payload := bytes.Repeat([]byte("rpcx-python-"), 1<<20/12+1)[:1<<20]
	for i := range payload {
		if i%97 == 0 {
			payload[i] = byte(i >> 8) // not all one pattern, so it still compresses but not to nothing
		}
	}
	got, err := echo(xc, payload, nil, nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("gzip echo returned %d bytes, not the %d sent", len(got), len(payload))
	}
	if wr := cnt.written.Load(); wr >= 1<<19 {
		return fmt.Errorf("request used %d bytes on the wire; the client did not compress", wr)
	}
	if rd := cnt.read.Load(); rd >= 1<<19 {
		return fmt.Errorf("response used %d bytes on the wire; the server did not compress", rd)
	}
	return nil
}

func checkOneway(cfg *config) error {
	cnt := &counter{}
	xc := cfg.xclient("Arith", cfg.option(protocol.SerializeNone), cnt)
	defer xc.Close()
	ctx, cancel := callCtx()
	defer cancel()
	payload := []byte("oneway-check")
	if err := xc.Oneshot(ctx, "Echo", &payload); err != nil {
		return fmt.Errorf("oneshot: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if w := cnt.written.Load(); w == 0 {
		return errors.New("oneshot request was not written")
	}
	if r := cnt.read.Load(); r != 0 {
		return fmt.Errorf("server sent %d bytes in reply to a oneway request", r)
	}
	got, err := echo(xc, []byte("after-oneway"), nil, nil)
	if err != nil {
		return fmt.Errorf("echo after oneway: %v", err)
	}
	if string(got) != "after-oneway" {
		return fmt.Errorf("echo after oneway returned %q", got)
	}
	if n := cnt.conns.Load(); n != 1 {
		return fmt.Errorf("%d connections made, want 1 (the connection was dropped)", n)
	}
	return nil
}

// heartbeat echo frame size: 16-byte prefix, empty path, method, metadata,
// payload = msgpack int64 (d3 + 8 bytes).
const heartbeatFrame = 16 + 4 + 4 + 4 + 4 + 9

func checkHeartbeat(cfg *config) error {
	cnt := &counter{}
	opt := cfg.option(protocol.SerializeNone)
	opt.Heartbeat = true
	opt.HeartbeatInterval = 100 * time.Millisecond
	opt.MaxWaitForHeartbeat = time.Second
	xc := cfg.xclient("Arith", opt, cnt)
	defer xc.Close()
	if got, err := echo(xc, []byte("hb-1"), nil, nil); err != nil || string(got) != "hb-1" {
		return fmt.Errorf("first echo %q: %v", got, err)
	}
	r0 := cnt.read.Load()
	start := time.Now()
	time.Sleep(700 * time.Millisecond)
	// On a loaded machine the client's ticker can lag: allow up to 2 s in all
	// before concluding that fewer than 3 heartbeats were echoed.
	for {
		hbOK, hbBad, _ := cnt.heartbeats()
		if hbBad > 0 || hbOK >= 3 || time.Since(start) >= 2*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	grown := cnt.read.Load() - r0
	hbOK, hbBad, note := cnt.heartbeats()
	info("heartbeat", "%d bytes read in %v, %d heartbeat echoes matched, %d bad", grown, elapsed, hbOK, hbBad)
	if hbBad > 0 {
		return errors.New(note)
	}
	if grown < 3*heartbeatFrame {
		return fmt.Errorf("only %d bytes read in %v, want >= %d (3 heartbeat echoes)", grown, elapsed, 3*heartbeatFrame)
	}
	if hbOK < 3 {
		return fmt.Errorf("only %d heartbeat echoes in %v, want >= 3", hbOK, elapsed)
	}
	if got, err := echo(xc, []byte("hb-2"), nil, nil); err != nil || string(got) != "hb-2" {
		return fmt.Errorf("echo after heartbeats %q: %v", got, err)
	}
	if n := cnt.conns.Load(); n != 1 {
		return fmt.Errorf("%d connections made, want 1 (a heartbeat failed and the client reconnected)", n)
	}
	return nil
}

func checkConcurrent(cfg *config) error {
	const n = 1000
	cnt := &counter{}
	xc := cfg.xclient("Arith", cfg.option(cfg.codec), cnt)
	defer xc.Close()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int64) {
			defer wg.Done()
			ctx, cancel := callCtx()
			defer cancel()
			if cfg.raw() {
				payload := []byte(strconv.FormatInt(i, 10))
				var reply []byte
				if err := xc.Call(ctx, "Echo", &payload, &reply); err != nil {
					errs <- fmt.Errorf("Echo(%d): %v", i, err)
				} else if string(reply) != string(payload) {
					errs <- fmt.Errorf("Echo(%d) = %q", i, reply)
				}
				return
			}
			reply := &arith.Reply{}
			if err := xc.Call(ctx, "Mul", &arith.Args{A: i, B: i + 1}, reply); err != nil {
				errs <- fmt.Errorf("Mul{%d,%d}: %v", i, i+1, err)
			} else if reply.C != i*(i+1) {
				errs <- fmt.Errorf("Mul{%d,%d} = %d, want %d", i, i+1, reply.C, i*(i+1))
			}
		}(int64(i))
	}
	wg.Wait()
	close(errs)
	bad := 0
	var first error
	for e := range errs {
		if first == nil {
			first = e
		}
		bad++
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d calls failed, first: %v", bad, n, first)
	}
	if c := cnt.conns.Load(); c != 1 {
		return fmt.Errorf("%d connections made, want 1", c)
	}
	return nil
}

func checkPush(cfg *config) error {
	ch := make(chan *protocol.Message, 10)
	d, _ := client.NewPeer2PeerDiscovery(cfg.addr, "")
	xc := client.NewBidirectionalXClient("Arith", client.Failtry, client.RandomSelect, d, cfg.option(protocol.SerializeNone), ch)
	cfg.setup(xc, nil)
	defer xc.Close()
	payload := []byte("pushed-bytes")
	got, err := echo(xc, payload, map[string]string{"push": "p1"}, nil)
	if err != nil {
		return fmt.Errorf("echo: %v", err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo returned %q", got)
	}
	var msg *protocol.Message
	select {
	case msg = <-ch:
	case <-time.After(2 * time.Second):
		return errors.New("no push message within 2 s")
	}
	var probs []string
	if msg.MessageType() != protocol.Request {
		probs = append(probs, "not a Request")
	}
	if !msg.IsOneway() {
		probs = append(probs, "oneway bit not set")
	}
	if msg.IsHeartbeat() {
		probs = append(probs, "heartbeat bit set")
	}
	if msg.MessageStatusType() != protocol.Normal {
		probs = append(probs, fmt.Sprintf("status %d (metadata %v)", msg.MessageStatusType(), msg.Metadata))
	}
	if msg.SerializeType() != protocol.SerializeNone {
		probs = append(probs, fmt.Sprintf("serialize type %d, want 0 as Server.SendMessage", msg.SerializeType()))
	}
	if msg.ServicePath != "Arith" || msg.ServiceMethod != "Push" {
		probs = append(probs, fmt.Sprintf("%q.%q, want Arith.Push", msg.ServicePath, msg.ServiceMethod))
	}
	if msg.Metadata["push"] != "p1" {
		probs = append(probs, fmt.Sprintf("metadata %v, want push=p1", msg.Metadata))
	}
	if !bytes.Equal(msg.Payload, payload) {
		probs = append(probs, fmt.Sprintf("payload %q, want %q", msg.Payload, payload))
	}
	info("push", "push seq %d flags %#02x", msg.Seq(), (*msg.Header)[2])
	if len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
}

func checkAuth(cfg *config) error {
	if cfg.auth == "" {
		return skip("no --auth given")
	}
	// the right token
	xc := cfg.xclient("Arith", cfg.option(protocol.SerializeNone))
	got, err := echo(xc, []byte("authed"), nil, nil)
	xc.Close()
	if err != nil {
		return fmt.Errorf("call with the right token: %v", err)
	}
	if string(got) != "authed" {
		return fmt.Errorf("call with the right token returned %q", got)
	}
	// a wrong token
	d, _ := client.NewPeer2PeerDiscovery(cfg.addr, "")
	bad := client.NewXClient("Arith", client.Failtry, client.RandomSelect, d, cfg.option(protocol.SerializeNone))
	bad.Auth("wrong-" + cfg.auth)
	defer bad.Close()
	_, err = echo(bad, []byte("not-authed"), nil, nil)
	if err == nil {
		return errors.New("call with a wrong token succeeded")
	}
	info("auth", "wrong token rejected with: %v", oneLine(err.Error()))
	return nil
}
