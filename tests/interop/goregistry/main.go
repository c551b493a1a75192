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
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	metrics "github.com/rcrowley/go-metrics"
	etcdclient "github.com/rpcxio/rpcx-etcd/client"
	etcdplugin "github.com/rpcxio/rpcx-etcd/serverplugin"
	redisclient "github.com/rpcxio/rpcx-redis/client"
	redisplugin "github.com/rpcxio/rpcx-redis/serverplugin"
	zkclient "github.com/rpcxio/rpcx-zookeeper/client"
	zkplugin "github.com/rpcxio/rpcx-zookeeper/serverplugin"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"
	rpcxplugin "github.com/smallnest/rpcx/serverplugin"
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

func parseRegistry(registry string) (scheme, addr string) {
	u, err := url.Parse(registry)
	if err == nil && u.Scheme == "mdns" {
		return u.Scheme, ""
	}
	if err != nil || u.Host == "" || (u.Scheme != "redis" && u.Scheme != "etcd" && u.Scheme != "zookeeper") {
		fail("--registry must be redis://, etcd:// or zookeeper://HOST:PORT, or mdns://, got %q", registry)
	}
	return u.Scheme, u.Host
}

// the plugin's Start and the server.Plugin it is
type registerPlugin interface {
	Start() error
}

// m: the plugin's Metrics (nil: none), whose calls/connections rates it merges into the metadata
func newPlugin(scheme, addr, service, basePath string, interval time.Duration, m metrics.Registry) registerPlugin {
	switch scheme {
	case "mdns":
		// an UpdateInterval > 0 is needed: Stop waits for the refresh goroutine to end
		return rpcxplugin.NewMDNSRegisterPlugin(service, 0, m, interval, "")
	case "redis":
		return &redisplugin.RedisRegisterPlugin{ServiceAddress: service, RedisServers: []string{addr},
			BasePath: basePath, UpdateInterval: interval, Metrics: m}
	case "etcd":
		// without ServerStarted, rpcx-etcd's first registration waits for a refresh; the server
		// already listens, so the channel is closed at once
		started := make(chan struct{})
		close(started)
		return &etcdplugin.EtcdV3RegisterPlugin{ServiceAddress: service, EtcdServers: []string{addr},
			BasePath: basePath, UpdateInterval: interval, ServerStarted: started, Metrics: m}
	default:
		return &zkplugin.ZooKeeperRegisterPlugin{ServiceAddress: service, ZooKeeperServers: []string{addr},
			BasePath: basePath, UpdateInterval: interval, Metrics: m}
	}
}

func newDiscovery(scheme, addr, basePath string, timeout time.Duration) (client.ServiceDiscovery, error) {
	switch scheme {
	case "mdns":
		// browsing again as soon as a browse ends (WatchInterval = Timeout), for --wait
		return client.NewMDNSDiscovery("Arith", timeout, timeout, "")
	case "redis":
		return redisclient.NewRedisDiscovery(basePath, "Arith", []string{addr}, nil)
	case "etcd":
		return etcdclient.NewEtcdV3Discovery(basePath, "Arith", []string{addr}, true, nil)
	default:
		return zkclient.NewZookeeperDiscovery(basePath, "Arith", []string{addr}, nil)
	}
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
	scheme, addr := parseRegistry(*registry)

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
		p := newPlugin(scheme, addr, service, *basePath, *interval, m)
		_, isMDNS := p.(*rpcxplugin.MDNSRegisterPlugin)
		// MDNSRegisterPlugin.Start must come after the first Register: its refresh goroutine defers
		// p.server.Shutdown() with the p.server of that moment, nil before a Register, and Stop
		// then panics (rpcx's own example starts it first)
		if !isMDNS {
			if err := p.Start(); err != nil {
				fail("%s plugin: %v", scheme, err)
			}
		}
		s.Plugins.Add(p)
		if err := s.RegisterName("Arith", new(Arith), *metadata); err != nil {
			fail("register: %v", err)
		}
		if isMDNS {
			if err := p.Start(); err != nil {
				fail("%s plugin: %v", scheme, err)
			}
		}
		fmt.Println("serving", service)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx) // unregisters every service first
		if isMDNS {
			p.(*rpcxplugin.MDNSRegisterPlugin).Stop() // goodbye packets
		}
	case "call", "list":
		d, err := newDiscovery(scheme, addr, *basePath, *timeout)
		if err != nil {
			fail("discovery: %v", err)
		}
		if *wait > 0 && len(d.GetServices()) == 0 {
			// mDNS cannot tell "no server" from "not answered yet" (a responder stays silent for a
			// second after multicasting a record, RFC 6762 §6): wait for the watch's next browses
			ch := d.WatchService()
			deadline := time.After(*wait)
		waiting:
			for {
				select {
				case pairs := <-ch:
					if len(pairs) > 0 {
						break waiting
					}
				case <-deadline:
					break waiting
				}
			}
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
