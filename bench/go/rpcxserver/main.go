// rpcxserver is the Go rpcx peer of the benchmark: rpcx-benchmark's server (rpcx/server/rpcx_server.go)
// against the real github.com/smallnest/rpcx. Hello.Say sets Field1="OK", Field2=100 and returns
// the message; logging is off. It prints "serving NETWORK@ADDR" once listening and runs until killed.
// -network picks Go's network (tcp by default; reuseport prints tcp@, the key Go registers for it);
// -cert/-key give it TLS (tcp, http, wss, quic; quic needs a binary built with -tags quic).
//
// It also serves Arith.Mul (Args{A, B int64} -> Reply{C = A*B}, as tests/interop/arith), the
// service of the client benchmark (bench/client_run.py): any codec the client picks, msgpack there.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	rlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"

	"rpcxpy/bench/benchpb"
)

type Hello int

func (t *Hello) Say(ctx context.Context, args *benchpb.BenchmarkMessage, reply *benchpb.BenchmarkMessage) error {
	f1, f2 := "OK", int32(100)
	args.Field1 = &f1
	args.Field2 = &f2
	copyMsg(reply, args) // rpcx-benchmark's `*reply = *args`, minus the generated struct's internal state
	runtime.Gosched()
	return nil
}

// Args and Reply are tests/interop/arith's types: msgpack and JSON carry them as maps keyed "A", "B", "C".
type Args struct {
	A int64
	B int64
}

type Reply struct {
	C int64
}

type Arith int

// Mul sets C = A * B.
func (t *Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "listen address (host:port; port 0 picks one)")
	asyncWrite := flag.Bool("async-write", false, "server.AsyncWrite (rpcx-benchmark leaves it off)")
	network := flag.String("network", "tcp", "rpcx network to serve (tcp, unix, http, ws, wss, reuseport, quic as built)")
	cert := flag.String("cert", "", "TLS certificate (PEM)")
	key := flag.String("key", "", "TLS key (PEM)")
	flag.Parse()

	rlog.SetDummyLogger()
	var opts []server.OptionFn
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tls:", err)
			os.Exit(1)
		}
		opts = append(opts, server.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair}}))
	}
	s := server.NewServer(opts...)
	s.AsyncWrite = *asyncWrite
	if err := s.RegisterName("Hello", new(Hello), ""); err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		os.Exit(1)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(*network, *addr) }()
	shown := *network
	if shown == "reuseport" {
		shown = "tcp"
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-errc:
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		default:
		}
		if a := s.Address(); a != nil {
			fmt.Printf("serving %s@%s\n", shown, a.String())
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := <-errc
	fmt.Fprintln(os.Stderr, "serve:", err)
	os.Exit(1)
}

// copyMsg copies every field (the generated struct holds a mutex, so it is not copied whole).
func copyMsg(dst, src *benchpb.BenchmarkMessage) {
	dst.Field1 = src.Field1
	dst.Field9 = src.Field9
	dst.Field18 = src.Field18
	dst.Field80 = src.Field80
	dst.Field81 = src.Field81
	dst.Field2 = src.Field2
	dst.Field3 = src.Field3
	dst.Field280 = src.Field280
	dst.Field6 = src.Field6
	dst.Field22 = src.Field22
	dst.Field4 = src.Field4
	dst.Field5 = src.Field5
	dst.Field59 = src.Field59
	dst.Field7 = src.Field7
	dst.Field16 = src.Field16
	dst.Field130 = src.Field130
	dst.Field12 = src.Field12
	dst.Field17 = src.Field17
	dst.Field13 = src.Field13
	dst.Field14 = src.Field14
	dst.Field104 = src.Field104
	dst.Field100 = src.Field100
	dst.Field101 = src.Field101
	dst.Field102 = src.Field102
	dst.Field103 = src.Field103
	dst.Field29 = src.Field29
	dst.Field30 = src.Field30
	dst.Field60 = src.Field60
	dst.Field271 = src.Field271
	dst.Field272 = src.Field272
	dst.Field150 = src.Field150
	dst.Field23 = src.Field23
	dst.Field24 = src.Field24
	dst.Field25 = src.Field25
	dst.Field78 = src.Field78
	dst.Field67 = src.Field67
	dst.Field68 = src.Field68
	dst.Field128 = src.Field128
	dst.Field129 = src.Field129
	dst.Field131 = src.Field131
}
