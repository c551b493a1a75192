// goregistry: a Go rpcx v1.9.4 server or client that finds its peers through a registry with Go's
// own plugins (rpcxio/rpcx-redis), the other side of tests/registry/test_go_interop.py.
//
//	goregistry server --registry redis://127.0.0.1:PORT --base-path /rpcx_test [--interval 1s]
//	    serves Arith (Mul) on tcp@127.0.0.1:0, registers it through RedisRegisterPlugin, prints
//	    "serving tcp@127.0.0.1:PORT"; SIGTERM: Shutdown (which unregisters), exit 0.
//	goregistry call --registry redis://... --base-path /rpcx_test --a 6 --b 7
//	    discovers Arith through NewRedisDiscovery, calls Mul with an XClient, prints "C=<n>".
//	goregistry list --registry redis://... --base-path /rpcx_test
//	    prints the servers Go's discovery lists, one "key metadata" line each, then "end".
package main

import (
	"context"
	"flag"
	"fmt"
	stdlog "log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	redisclient "github.com/rpcxio/rpcx-redis/client"
	redisplugin "github.com/rpcxio/rpcx-redis/serverplugin"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"
)

type Args struct{ A, B int }
type Reply struct{ C int }
type Arith struct{}

func (Arith) Mul(ctx context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	return nil
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "goregistry: "+format+"\n", a...)
	os.Exit(1)
}

func redisAddr(registry string) string {
	u, err := url.Parse(registry)
	if err != nil || u.Scheme != "redis" || u.Host == "" {
		fail("--registry must be redis://HOST:PORT, got %q", registry)
	}
	return u.Host
}

func main() {
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "rpcx ", stdlog.LstdFlags|stdlog.Lmicroseconds, log.LvError))
	if len(os.Args) < 2 {
		fail("usage: goregistry server|call|list --registry redis://H:P --base-path P")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	registry := fs.String("registry", "", "redis://HOST:PORT")
	basePath := fs.String("base-path", "/rpcx_test", "registry base path")
	interval := fs.Duration("interval", time.Second, "the plugin's UpdateInterval")
	a := fs.Int("a", 6, "Mul's A")
	b := fs.Int("b", 7, "Mul's B")
	fs.Parse(os.Args[2:])
	addr := redisAddr(*registry)

	switch os.Args[1] {
	case "server":
		s := server.NewServer()
		serveErr := make(chan error, 1)
		go func() { serveErr <- s.Serve("tcp", "127.0.0.1:0") }()
		for s.Address() == nil {
			select {
			case err := <-serveErr:
				fail("serve: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		service := "tcp@" + s.Address().String()
		p := &redisplugin.RedisRegisterPlugin{
			ServiceAddress: service,
			RedisServers:   []string{addr},
			BasePath:       *basePath,
			UpdateInterval: *interval,
		}
		if err := p.Start(); err != nil {
			fail("redis plugin: %v", err)
		}
		s.Plugins.Add(p)
		if err := s.RegisterName("Arith", new(Arith), ""); err != nil {
			fail("register: %v", err)
		}
		fmt.Println("serving", service)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx) // unregisters every service first
	case "call", "list":
		d, err := redisclient.NewRedisDiscovery(*basePath, "Arith", []string{addr}, nil)
		if err != nil {
			fail("discovery: %v", err)
		}
		if os.Args[1] == "list" {
			for _, kv := range d.GetServices() {
				fmt.Println(kv.Key, kv.Value)
			}
			fmt.Println("end")
			return
		}
		xc := client.NewXClient("Arith", client.Failtry, client.RandomSelect, d, client.DefaultOption)
		defer xc.Close()
		reply := &Reply{}
		if err := xc.Call(context.Background(), "Mul", &Args{*a, *b}, reply); err != nil {
			fail("call: %v", err)
		}
		fmt.Printf("C=%d\n", reply.C)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
