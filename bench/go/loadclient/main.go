// loadclient is the one Go load generator of the benchmark. It drives an rpcx server (the real
// github.com/smallnest/rpcx XClient, as rpcx-benchmark's client), a gRPC server (grpc-go stub) or
// the raw length-prefixed echo baseline, with the 581-byte BenchmarkMessage, from -c goroutines
// sharing -pool connections (XClients / ClientConns / TCP connections; rpcx-benchmark's default is
// 10 shared XClients, here min(pool, c)).
//
// -proto arith is the client benchmark (bench/client_run.py): XClients (Failtry, RoundRobin,
// msgpack) calling Arith.Mul{A, B} of bench/go/rpcxserver and checking C = A*B; with -pin each
// caller keeps to connection (caller % pool), as the Python load client's tasks do.
//
// Latency is timed per call on the client (queueing + service time). The run stops by itself after
// -n calls or -duration seconds, whichever comes first. The result is one JSON line on stdout:
//
//	{"calls":..,"seconds":..,"calls_per_s":..,"p50_us":..,"p99_us":..,"errors":..,...}
//
// With -sync, the client prints "warm" after the warm-up and waits for a line on stdin before the
// measured run, and after printing the result waits for another line before closing its
// connections, so a driver can sample the server's CPU time around exactly the measured calls.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/client"
	rlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"rpcxpy/bench/benchpb"
)

// caller makes one call on connection i of the pool.
type caller interface {
	call(ctx context.Context, i int) error
	close()
}

func main() {
	mode := flag.String("proto", "rpcx", "rpcx | grpc | echo | arith")
	addr := flag.String("addr", "127.0.0.1:8972", "server host:port (loopback; a socket path for -network unix)")
	network := flag.String("network", "tcp", "the rpcx network to dial: -proto rpcx tcp, unix, http, ws, wss, quic (quic build); -proto arith tcp or kcp (-tags kcp)")
	useTLS := flag.Bool("tls", false, "rpcx only: dial with TLS, not verifying the server (loopback benchmark)")
	conc := flag.Int("c", 1, "concurrent callers (goroutines)")
	total := flag.Int("n", 100000, "measured calls (upper bound)")
	maxSec := flag.Float64("duration", 10, "measured seconds (upper bound)")
	warmup := flag.Int("warmup", 1000, "warm-up calls before measuring (not counted)")
	pool := flag.Int("pool", 10, "shared connections (capped at -c)")
	deadline := flag.Duration("deadline", 0, "give each call a context deadline (0: context.Background(), as rpcx-benchmark;\n"+
		"an rpcx XClient then sends it as __ServerTimeout metadata, a gRPC stub as grpc-timeout)")
	stuck := flag.Duration("stuck", 30*time.Second, "give up (exit 1) when a run overruns -duration by this much")
	syncMode := flag.Bool("sync", false, "handshake with the driver on stdin/stdout around the measured run")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	pin := flag.Bool("pin", false, "caller g always uses connection g % pool (default: round robin per call)")
	meta := flag.String("meta", "", "rpcx only: send this request metadata with every call, KEY=VALUE (a traceparent, say)")
	flag.StringVar(&kcpKey, "kcp-key", "rpcx-key", "-network kcp: the block crypt password (-proto arith, built with -tags kcp)")
	vary := flag.Bool("vary", false, "arith only: every call its own A (a counter) and B (1..1000), the reply checked\n"+
		"against it, so a reply that belongs to another call is an error (the proxy's crossed-reply check)")
	flag.Parse()
	arithNetwork = *network // -proto arith dials tcp or kcp
	if k, v, ok := strings.Cut(*meta, "="); ok {
		reqMeta = map[string]string{k: v}
	}
	if *conc < 1 || *total < 1 || *maxSec <= 0 {
		fatal("bad -c, -n or -duration")
	}
	if *pool > *conc {
		*pool = *conc
	}
	if *pool < 1 {
		*pool = 1
	}
	args := prepareArgs()
	size := proto.Size(args)

	var c caller
	var err error
	switch *mode {
	case "rpcx":
		var tc *tls.Config
		if *useTLS {
			tc = &tls.Config{InsecureSkipVerify: true}
		}
		c, err = newRPCX(*network, *addr, tc, *pool, args)
	case "grpc":
		c, err = newGRPC(*addr, *pool, args)
	case "echo":
		c, err = newEcho(*addr, *pool, args)
	case "arith":
		c, err = newArith(*addr, *pool, *vary)
		size = 23 // the msgpack map {"A": 12345, "B": 6789}, int64s as d3 + 8 bytes (vmihailenco)
	default:
		err = fmt.Errorf("unknown -proto %q", *mode)
	}
	if err != nil {
		fatal(err.Error())
	}

	// warm-up: every connection gets calls, at the measured concurrency
	if *warmup > 0 {
		res := run(c, *conc, *pool, *warmup, 30*time.Second, *deadline, *stuck, *pin)
		if res.errors == res.calls && res.calls > 0 {
			fatal(fmt.Sprintf("warm-up: all %d calls failed: %v", res.calls, res.firstErr))
		}
	}
	stdin := bufio.NewReader(os.Stdin)
	if *syncMode {
		fmt.Println("warm")
		if _, err := stdin.ReadString('\n'); err != nil {
			fatal("sync: " + err.Error())
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err.Error())
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err.Error())
		}
	}
	cpu0 := cpuTime()
	res := run(c, *conc, *pool, *total, time.Duration(*maxSec*float64(time.Second)), *deadline, *stuck, *pin)
	cpu1 := cpuTime()
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}

	lat := res.lat
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	out := map[string]any{
		"proto":       *mode,
		"concurrency": *conc,
		"pool":        *pool,
		"payload":     size,
		"deadline_ms": deadline.Milliseconds(),
		"calls":       res.calls,
		"errors":      res.errors,
		"seconds":     round(res.elapsed.Seconds(), 4),
		"calls_per_s": round(float64(res.calls-res.errors)/res.elapsed.Seconds(), 1),
		"p50_us":      round(pct(lat, 50), 1),
		"p90_us":      round(pct(lat, 90), 1),
		"p99_us":      round(pct(lat, 99), 1),
		"max_us":      round(pct(lat, 100), 1),
		"mean_us":     round(mean(lat), 1),
		// the load client's own CPU (it shares the machine with the server)
		"client_cpu_us_per_call": round(float64(cpu1-cpu0)/1e3/float64(max(res.calls, 1)), 2),
	}
	if res.firstErr != nil {
		out["first_error"] = res.firstErr.Error()
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if *syncMode {
		_, _ = stdin.ReadString('\n')
	}
	c.close()
}

type result struct {
	calls, errors int
	elapsed       time.Duration
	lat           []float64 // microseconds, successful calls only
	firstErr      error
}

// run makes up to n calls from conc goroutines, stopping at the time limit; calls in flight then
// finish. A watchdog ends the process if they have not finished `stuck` after the limit.
func run(c caller, conc, pool, n int, limit, callDeadline, stuck time.Duration, pin bool) result {
	var issued, next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]float64, conc)
	var start sync.WaitGroup
	var done sync.WaitGroup
	start.Add(1)
	done.Add(conc)
	var deadline time.Time
	for g := 0; g < conc; g++ {
		go func(g int) {
			defer done.Done()
			mine := make([]float64, 0, n/conc+1)
			start.Wait()
			for {
				if issued.Add(1) > int64(n) {
					break
				}
				t0 := time.Now()
				if t0.After(deadline) {
					issued.Add(-1)
					break
				}
				i := g % pool
				if !pin {
					i = int(next.Add(1) % int64(pool))
				}
				var err error
				if callDeadline > 0 {
					ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
					err = c.call(ctx, i)
					cancel()
				} else {
					err = c.call(context.Background(), i)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				mine = append(mine, float64(time.Since(t0).Nanoseconds())/1e3)
			}
			lats[g] = mine
		}(g)
	}
	t0 := time.Now()
	deadline = t0.Add(limit)
	watchdog := time.AfterFunc(limit+stuck, func() {
		fatal(fmt.Sprintf("calls still unanswered %v after the time limit; giving up", stuck))
	})
	start.Done()
	done.Wait()
	watchdog.Stop()
	elapsed := time.Since(t0)
	all := make([]float64, 0, n)
	for _, l := range lats {
		all = append(all, l...)
	}
	calls := int(issued.Load())
	if calls > n {
		calls = n
	}
	r := result{calls: calls, errors: int(errs.Load()), elapsed: elapsed, lat: all}
	if e, ok := firstErr.Load().(error); ok {
		r.firstErr = e
	}
	return r
}

// ---- rpcx: a pool of XClients (Failtry + RoundRobin, ProtoBuffer), as rpcx-benchmark ----

type rpcxCaller struct {
	xcs  []client.XClient
	args *benchpb.BenchmarkMessage
	// a reply per goroutine would need goroutine ids; a sync.Pool is the cheap equivalent
	replies sync.Pool
}

func newRPCX(network, addr string, tc *tls.Config, pool int, args *benchpb.BenchmarkMessage) (caller, error) {
	rlog.SetDummyLogger()
	d, err := client.NewMultipleServersDiscovery([]*client.KVPair{{Key: network + "@" + addr}})
	if err != nil {
		return nil, err
	}
	c := &rpcxCaller{args: args}
	c.replies.New = func() any { return new(benchpb.BenchmarkMessage) }
	for i := 0; i < pool; i++ {
		opt := client.DefaultOption
		opt.SerializeType = protocol.ProtoBuffer
		opt.TLSConfig = tc
		c.xcs = append(c.xcs, client.NewXClient("Hello", client.Failtry, client.RoundRobin, d, opt))
	}
	return c, nil
}

// reqMeta is the -meta request metadata (nil: none)
var reqMeta map[string]string

func (c *rpcxCaller) call(ctx context.Context, i int) error {
	if reqMeta != nil {
		md := make(map[string]string, len(reqMeta)) // rpcx may write to the map it sends
		for k, v := range reqMeta {
			md[k] = v
		}
		ctx = context.WithValue(ctx, share.ReqMetaDataKey, md)
	}
	reply := c.replies.Get().(*benchpb.BenchmarkMessage)
	defer c.replies.Put(reply)
	if err := c.xcs[i].Call(ctx, "Say", c.args, reply); err != nil {
		return err
	}
	return checkReply(reply)
}

func (c *rpcxCaller) close() {
	for _, x := range c.xcs {
		_ = x.Close()
	}
}

// ---- arith: XClients (Failtry + RoundRobin, msgpack) calling Arith.Mul, the client benchmark ----

type ArithArgs struct {
	A int64
	B int64
}

type ArithReply struct {
	C int64
}

const arithA, arithB = 12345, 6789

var (
	arithNetwork = "tcp"
	kcpKey       = "rpcx-key"
	// set by kcp.go when built with -tags kcp
	kcpBlock func(password string) (interface{}, error)
)

type arithCaller struct {
	xcs  []client.XClient
	args *ArithArgs
	// vary: each call's A is the next value of this counter (B follows from it), the reply checked
	vary bool
	next atomic.Int64
}

func newArith(addr string, pool int, vary bool) (caller, error) {
	rlog.SetDummyLogger()
	var block interface{}
	if arithNetwork == "kcp" {
		if kcpBlock == nil {
			return nil, errors.New("-network kcp: this loadclient was built without -tags kcp")
		}
		b, err := kcpBlock(kcpKey)
		if err != nil {
			return nil, err
		}
		block = b
	} else if arithNetwork != "tcp" {
		return nil, fmt.Errorf("-network %q: tcp or kcp", arithNetwork)
	}
	d, err := client.NewMultipleServersDiscovery([]*client.KVPair{{Key: arithNetwork + "@" + addr}})
	if err != nil {
		return nil, err
	}
	c := &arithCaller{args: &ArithArgs{A: arithA, B: arithB}, vary: vary}
	// load clients running at once count in their own ranges (pids differ; under 10^7 calls each),
	// so a reply crossed between two of them is caught too
	c.next.Store(int64(os.Getpid()) * 10_000_000)
	for i := 0; i < pool; i++ {
		opt := client.DefaultOption
		opt.SerializeType = protocol.MsgPack
		opt.Block = block
		// each XClient dials its own connection to the one server
		c.xcs = append(c.xcs, client.NewXClient("Arith", client.Failtry, client.RoundRobin, d, opt))
	}
	return c, nil
}

func (c *arithCaller) call(ctx context.Context, i int) error {
	args := c.args
	if c.vary {
		a := c.next.Add(1)
		args = &ArithArgs{A: a, B: a%1000 + 1}
	}
	var reply ArithReply // as a Go caller writes it; escapes to the heap like the Python reply object
	if err := c.xcs[i].Call(ctx, "Mul", args, &reply); err != nil {
		return err
	}
	if reply.C != args.A*args.B {
		return fmt.Errorf("crossed or bad reply: C=%d, want %d*%d=%d", reply.C, args.A, args.B, args.A*args.B)
	}
	return nil
}

func (c *arithCaller) close() {
	for _, x := range c.xcs {
		_ = x.Close()
	}
}

// ---- gRPC: a pool of ClientConns with the generated stub ----

type grpcCaller struct {
	conns []*grpc.ClientConn
	stubs []benchpb.HelloClient
	args  *benchpb.BenchmarkMessage
}

func newGRPC(addr string, pool int, args *benchpb.BenchmarkMessage) (caller, error) {
	c := &grpcCaller{args: args}
	for i := 0; i < pool; i++ {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		c.conns = append(c.conns, conn)
		c.stubs = append(c.stubs, benchpb.NewHelloClient(conn))
	}
	return c, nil
}

func (c *grpcCaller) call(ctx context.Context, i int) error {
	reply, err := c.stubs[i].Say(ctx, c.args)
	if err != nil {
		return err
	}
	return checkReply(reply)
}

func (c *grpcCaller) close() {
	for _, x := range c.conns {
		_ = x.Close()
	}
}

func checkReply(r *benchpb.BenchmarkMessage) error {
	if r.GetField1() != "OK" || r.GetField2() != 100 {
		return errors.New("bad reply: Field1/Field2 not set by the server")
	}
	return nil
}

// ---- echo: raw length-prefixed frames, multiplexed over a pool of TCP connections ----
//
// Frame: 4-byte big-endian length, then 8-byte call id and the 581-byte marshalled message. The
// server echoes each frame unchanged; a reader goroutine per connection matches replies by id.

type echoConn struct {
	conn    net.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[uint64]chan error
	seq     uint64
	err     error
}

type echoCaller struct {
	conns   []*echoConn
	payload []byte
}

func newEcho(addr string, pool int, args *benchpb.BenchmarkMessage) (caller, error) {
	payload, err := proto.Marshal(args)
	if err != nil {
		return nil, err
	}
	c := &echoCaller{payload: payload}
	for i := 0; i < pool; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		ec := &echoConn{conn: nc, pending: map[uint64]chan error{}}
		go ec.readLoop(len(payload))
		c.conns = append(c.conns, ec)
	}
	return c, nil
}

func (e *echoConn) readLoop(payloadLen int) {
	r := bufio.NewReaderSize(e.conn, 64<<10)
	hdr := make([]byte, 12)
	body := make([]byte, payloadLen)
	var err error
	for {
		if _, err = io.ReadFull(r, hdr); err != nil {
			break
		}
		n := int(binary.BigEndian.Uint32(hdr[:4])) - 8
		if n != payloadLen {
			err = fmt.Errorf("echo: frame of %d bytes, want %d", n, payloadLen)
			break
		}
		if _, err = io.ReadFull(r, body); err != nil {
			break
		}
		id := binary.BigEndian.Uint64(hdr[4:12])
		e.mu.Lock()
		ch := e.pending[id]
		delete(e.pending, id)
		e.mu.Unlock()
		if ch != nil {
			ch <- nil
		}
	}
	e.mu.Lock()
	e.err = err
	for id, ch := range e.pending {
		ch <- err
		delete(e.pending, id)
	}
	e.mu.Unlock()
}

func (c *echoCaller) call(ctx context.Context, i int) error {
	e := c.conns[i]
	ch := make(chan error, 1)
	e.mu.Lock()
	if e.err != nil {
		e.mu.Unlock()
		return e.err
	}
	e.seq++
	id := e.seq
	e.pending[id] = ch
	e.mu.Unlock()
	frame := make([]byte, 12+len(c.payload))
	binary.BigEndian.PutUint32(frame, uint32(8+len(c.payload)))
	binary.BigEndian.PutUint64(frame[4:], id)
	copy(frame[12:], c.payload)
	e.wmu.Lock()
	_, err := e.conn.Write(frame)
	e.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		e.mu.Lock()
		delete(e.pending, id)
		e.mu.Unlock()
		return ctx.Err()
	}
}

func (c *echoCaller) close() {
	for _, e := range c.conns {
		_ = e.conn.Close()
	}
}

// ---- helpers ----

// prepareArgs fills every scalar field as rpcx-benchmark's prepareArgs does: strings get the
// same Chinese sentence, integers 100000, bools true; the repeated field stays empty. 581 bytes.
func prepareArgs() *benchpb.BenchmarkMessage {
	b := true
	var i32 int32 = 100000
	var i64 int64 = 100000
	s := "许多往事在眼前一幕一幕，变的那麼模糊"
	var args benchpb.BenchmarkMessage
	v := reflect.ValueOf(&args).Elem()
	for k := 0; k < v.NumField(); k++ {
		f := v.Field(k)
		if !f.CanSet() || f.Kind() != reflect.Ptr {
			continue
		}
		switch f.Type().Elem().Kind() {
		case reflect.Int32:
			f.Set(reflect.ValueOf(&i32))
		case reflect.Int64:
			f.Set(reflect.ValueOf(&i64))
		case reflect.Bool:
			f.Set(reflect.ValueOf(&b))
		case reflect.String:
			f.Set(reflect.ValueOf(&s))
		}
	}
	return &args
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.5) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	return sorted[k]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func round(x float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "loadclient:", msg)
	os.Exit(1)
}
