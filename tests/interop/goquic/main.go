// goquic is the Go rpcx peer over quic@, in its own module: rpcx's quic build tag needs quic-go
// replaced by v0.52.0 (see go.mod), which must not change the other peers.
//
//	goquic serve  quic@127.0.0.1:PORT --cert F --key F   prints "serving quic@HOST:PORT", serves Arith until SIGINT/SIGTERM
//	goquic call   quic@127.0.0.1:PORT [--n N] [--size BYTES]  calls Arith.Mul N times concurrently (json codec)
//	              and Arith.Echo once with BYTES bytes; prints "ok N" or exits 1
//
// The client dials without a TLS config, so rpcx skips verification (InsecureSkipVerify), as Go does.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
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

func (t *Arith) Echo(ctx context.Context, args *[]byte, reply *[]byte) error {
	*reply = *args
	return nil
}

func split(s string) (string, string) {
	network, address, ok := strings.Cut(s, "@")
	if !ok || network != "quic" {
		fmt.Fprintln(os.Stderr, "goquic: address must be quic@HOST:PORT")
		os.Exit(2)
	}
	return network, address
}

func main() {
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "rpcx ", stdlog.LstdFlags|stdlog.Lmicroseconds, log.LvError))
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: goquic serve|call quic@HOST:PORT [options]")
		os.Exit(2)
	}
	mode, target := os.Args[1], os.Args[2]
	fs := flag.NewFlagSet("goquic", flag.ExitOnError)
	cert := fs.String("cert", "", "TLS certificate (PEM), serve only")
	key := fs.String("key", "", "TLS key (PEM), serve only")
	n := fs.Int("n", 1, "concurrent Arith.Mul calls, call only")
	size := fs.Int("size", 0, "Arith.Echo payload bytes (0: no Echo), call only")
	_ = fs.Parse(os.Args[3:])
	network, address := split(target)
	switch mode {
	case "serve":
		os.Exit(serve(network, address, *cert, *key))
	case "call":
		os.Exit(call(network, address, *n, *size))
	default:
		fmt.Fprintln(os.Stderr, "goquic: mode must be serve or call")
		os.Exit(2)
	}
}

func serve(network, address, cert, key string) int {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goquic:", err)
		return 1
	}
	s := server.NewServer(server.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair}}))
	if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
		fmt.Fprintln(os.Stderr, "goquic:", err)
		return 1
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(network, address) }()
	for s.Address() == nil {
		select {
		case err := <-errc:
			fmt.Fprintln(os.Stderr, "goquic:", err)
			return 1
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Printf("serving %s@%s\n", network, s.Address().String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	_ = s.Close()
	return 0
}

func call(network, address string, n, size int) int {
	opt := client.DefaultOption
	opt.SerializeType = protocol.JSON
	c := client.NewClient(opt)
	if err := c.Connect(network, address); err != nil {
		fmt.Fprintln(os.Stderr, "goquic: connect:", err)
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			reply := &Reply{}
			if err := c.Call(ctx, "Arith", "Mul", &Args{A: int64(i), B: 7}, reply); err != nil {
				errs <- err
			} else if reply.C != int64(i)*7 {
				errs <- fmt.Errorf("Mul(%d, 7) = %d", i, reply.C)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "goquic:", err)
		return 1
	}
	if size > 0 {
		payload := bytes.Repeat([]byte("q"), size)
		var got []byte
		c2 := client.NewClient(rawOpt())
		if err := c2.Connect(network, address); err != nil {
			fmt.Fprintln(os.Stderr, "goquic: connect:", err)
			return 1
		}
		defer c2.Close()
		if err := c2.Call(ctx, "Arith", "Echo", payload, &got); err != nil {
			fmt.Fprintln(os.Stderr, "goquic: Echo:", err)
			return 1
		}
		if !bytes.Equal(got, payload) {
			fmt.Fprintf(os.Stderr, "goquic: Echo returned %d bytes, want %d\n", len(got), size)
			return 1
		}
	}
	fmt.Printf("ok %d\n", n)
	return 0
}

func rawOpt() client.Option {
	opt := client.DefaultOption
	opt.SerializeType = protocol.SerializeNone
	return opt
}
