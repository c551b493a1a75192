// gootel is a Go rpcx peer with OpenTelemetry tracing plugins, in its own module: the OpenTelemetry
// SDK must not enter the other peers. The plugins (otel.go) do what github.com/rpcxio/rpcx-plugins'
// client/otel and server/otel plugins do (that module is not reachable through the Go module proxy
// here), with the same span names, kinds, attributes and metadata carrier.
// Every span it ends is printed to stdout as one JSON line
// {"span": NAME, "kind": K, "trace_id": HEX, "span_id": HEX, "parent_span_id": HEX, "attrs": {...}},
// using the W3C trace-context propagator, as a service set up with otel.SetTextMapPropagator would.
//
//	gootel serve tcp@127.0.0.1:PORT    prints "serving tcp@HOST:PORT", serves Arith.Mul (json) with
//	                                   the server plugin until SIGINT/SIGTERM
//	gootel call  tcp@127.0.0.1:PORT [--service Arith] [--method Mul]
//	                                   calls once with the client plugin ({"A":6,"B":7}), prints
//	                                   "reply <json>" then the client span, or exits 1
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	stdlog "log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type Args struct {
	A int64 `json:"A"`
	B int64 `json:"B"`
}

type Reply struct {
	C int64 `json:"C"`
}

type Arith struct{}

func (t *Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

// printer is a SpanExporter writing one JSON line per ended span.
type printer struct{ mu sync.Mutex }

func (p *printer) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range spans {
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		sc, parent := s.SpanContext(), s.Parent()
		tid, sid := sc.TraceID(), sc.SpanID()
		psid := ""
		if parent.IsValid() {
			b := parent.SpanID()
			psid = hex.EncodeToString(b[:])
		}
		line, _ := json.Marshal(map[string]any{
			"span": s.Name(), "kind": s.SpanKind().String(),
			"trace_id": hex.EncodeToString(tid[:]), "span_id": hex.EncodeToString(sid[:]),
			"parent_span_id": psid, "remote_parent": parent.IsRemote(), "attrs": attrs,
			"status": s.Status().Code.String(),
		})
		fmt.Println(string(line))
	}
	return nil
}

func (p *printer) Shutdown(ctx context.Context) error { return nil }

func setup() *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(&printer{}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp
}

func split(s string) string {
	network, address, ok := strings.Cut(s, "@")
	if !ok || network != "tcp" {
		fmt.Fprintln(os.Stderr, "gootel: address must be tcp@HOST:PORT")
		os.Exit(2)
	}
	return address
}

func serve(addr string) {
	tp := setup()
	s := server.NewServer()
	s.Plugins.Add(newServerPlugin(tp.Tracer("gootel"), nil))
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		stdlog.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve("tcp", addr) }()
	for s.Address() == nil {
		select {
		case err := <-errc:
			stdlog.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// listen for the signal before saying we serve: a test may stop us right after that line
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Printf("serving tcp@%s\n", s.Address().String())
	<-sig
	_ = s.Close()
	_ = tp.Shutdown(context.Background())
}

func call(addr, service, method string) {
	tp := setup()
	d, err := client.NewPeer2PeerDiscovery("tcp@"+addr, "")
	if err != nil {
		stdlog.Fatal(err)
	}
	opt := client.DefaultOption
	opt.SerializeType = protocol.JSON
	xc := client.NewXClient(service, client.Failfast, client.RandomSelect, d, opt)
	pc := client.NewPluginContainer()
	pc.Add(newClientPlugin(tp.Tracer("gootel"), nil))
	xc.SetPlugins(pc)
	reply := &Reply{}
	// the plugin needs rpcx's own context type (it asserts *share.Context)
	err = xc.Call(share.NewContext(context.Background()), method, &Args{A: 6, B: 7}, reply)
	_ = xc.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gootel: call:", err)
		_ = tp.Shutdown(context.Background())
		os.Exit(1)
	}
	out, _ := json.Marshal(reply)
	fmt.Printf("reply %s\n", out)
	_ = tp.Shutdown(context.Background())
}

func main() {
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "", stdlog.LstdFlags, log.LvError))
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gootel serve|call tcp@HOST:PORT [--service S] [--method M]")
		os.Exit(2)
	}
	addr := split(os.Args[2])
	switch os.Args[1] {
	case "serve":
		serve(addr)
	case "call":
		fs := flag.NewFlagSet("call", flag.ExitOnError)
		service := fs.String("service", "Arith", "service path")
		method := fs.String("method", "Mul", "method")
		_ = fs.Parse(os.Args[3:])
		call(addr, *service, *method)
	default:
		fmt.Fprintln(os.Stderr, "gootel: serve or call")
		os.Exit(2)
	}
}
