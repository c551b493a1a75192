// goregistry: a Go rpcx v1.9.4 server or client that finds its peers through a registry with Go's
// own plugins (rpcxio/rpcx-redis, rpcx-etcd, rpcx-zookeeper; rpcx's serverplugin.MDNSRegisterPlugin
// and client.MDNSDiscovery), the other side of tests/registry/test_go_interop.py and
// test_go_mdns.py. REGISTRY is redis://H:P, etcd://H:P, zookeeper://H:P or mdns:// (no host).
//
// mdns:// multicasts on EVERY multicast interface (grandcat/zeroconf cannot be bound to one):
// run it only inside a network namespace with nothing but lo (test_go_mdns.py makes one).
//
//	goregistry server --registry REGISTRY --base-path /rpcx_test [--interval 1s] [--metadata M] [--metrics]
//	    serves Arith (Mul) on tcp@127.0.0.1:0, registers it through the backend's register
//	    plugin, prints "serving tcp@127.0.0.1:PORT"; SIGTERM: Shutdown (which unregisters), exit 0.
//	goregistry call --registry REGISTRY --base-path /rpcx_test --a 6 --b 7 [--wait 10s]
//	    discovers Arith through the backend's discovery, calls Mul with an XClient, prints "C=<n>".
//	goregistry list --registry redis://... --base-path /rpcx_test
//	    prints the servers Go's discovery lists, one "key metadata" line each, then "end".
//
// --wait: when the first listing is empty, wait up to that long for the discovery's watch to list a
// server. With mdns:// the base path is unused, --timeout is the discovery's browse time, and the server
// command's Shutdown is followed by the plugin's Stop (Go's Unregister only rewrites the TXT record
// to an empty list; Stop sends the goodbye packets).
package main

import (
	"context"
	"flag"
	"fmt"
	stdlog "log"
	"os"
	"os/signal"
	"syscall"
	"time"

	metrics "github.com/rcrowley/go-metrics"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"

	"rpcxpy/interop/goregistry/reg"
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
	timeout := fs.Duration("timeout", time.Second, "mdns: how long a browse collects answers")
	metadata := fs.String("metadata", "", "the metadata Arith is registered with")
	withMetrics := fs.Bool("metrics", false, "server: give the plugin a go-metrics registry (calls/connections rates in the metadata)")
	wait := fs.Duration("wait", 0, "call, list: wait up to this long for the discovery's watch to list a server")
	fs.Parse(os.Args[2:])
	scheme, addr, err := reg.Parse(*registry)
	if err != nil {
		fail("%v", err)
	}

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
		var m metrics.Registry
		if *withMetrics {
			m = metrics.NewRegistry()
		}
		after, err := reg.Publish(s, scheme, addr, service, *basePath, *interval, m, "Arith", new(Arith), *metadata,
			func() error { return s.RegisterName("Arith", new(Arith), *metadata) })
		if err != nil {
			fail("%v", err)
		}
		fmt.Println("serving", service)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx) // unregisters every service first
		after()         // mDNS: the goodbye packets
	case "call", "list":
		d, err := reg.NewDiscovery(scheme, addr, *basePath, "Arith", *timeout)
		if err != nil {
			fail("discovery: %v", err)
		}
		reg.WaitForServer(d, *wait)
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
