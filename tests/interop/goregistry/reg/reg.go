// Package reg is the registry side of the Go interop peers: Go rpcx's own register plugins and
// discoveries (rpcxio/rpcx-redis, rpcx-etcd, rpcx-zookeeper; rpcx's MDNSRegisterPlugin and
// MDNSDiscovery) chosen by a registry URL, as the interop contract's --registry. goregistry uses it,
// and so do goserver and goclient when built with the registry tag against this module's
// requirements (build.sh: goserver-registry, goclient-registry).
package reg

import (
	"fmt"
	"net/url"
	"time"

	metrics "github.com/rcrowley/go-metrics"
	etcdclient "github.com/rpcxio/rpcx-etcd/client"
	etcdplugin "github.com/rpcxio/rpcx-etcd/serverplugin"
	redisclient "github.com/rpcxio/rpcx-redis/client"
	redisplugin "github.com/rpcxio/rpcx-redis/serverplugin"
	zkclient "github.com/rpcxio/rpcx-zookeeper/client"
	zkplugin "github.com/rpcxio/rpcx-zookeeper/serverplugin"
	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/server"
	rpcxplugin "github.com/smallnest/rpcx/serverplugin"
)

// Parse splits redis://H:P, etcd://H:P, zookeeper://H:P or mdns:// into scheme and host:port.
func Parse(registry string) (scheme, addr string, err error) {
	u, err := url.Parse(registry)
	if err == nil && u.Scheme == "mdns" {
		return u.Scheme, "", nil
	}
	if err != nil || u.Host == "" || (u.Scheme != "redis" && u.Scheme != "etcd" && u.Scheme != "zookeeper") {
		return "", "", fmt.Errorf("--registry must be redis://, etcd:// or zookeeper://HOST:PORT, or mdns://, got %q", registry)
	}
	return u.Scheme, u.Host, nil
}

// Plugin is a register plugin: its Start, and the server.Plugin hooks it has.
type Plugin interface {
	Start() error
	Register(name string, rcvr interface{}, metadata string) error
}

// NewPlugin makes the backend's register plugin publishing service (network@host:port).
// m: the plugin's Metrics (nil: none), whose calls/connections rates it merges into the metadata.
func NewPlugin(scheme, addr, service, basePath string, interval time.Duration, m metrics.Registry) Plugin {
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

// Publish registers service name (already registered on s, or registered by register) through the
// backend's plugin and adds the plugin to s, so s.Shutdown unregisters it. register: nil when the
// service is registered on s already (the plugin's Register is then called directly), else the
// s.RegisterName call, made once the plugin is in s.Plugins. It returns what to call after
// s.Shutdown (mDNS: Stop, which sends the goodbye packets; Go's Unregister only empties the TXT
// record).
func Publish(s *server.Server, scheme, addr, service, basePath string, interval time.Duration, m metrics.Registry,
	name string, rcvr interface{}, metadata string, register func() error) (after func(), err error) {
	p := NewPlugin(scheme, addr, service, basePath, interval, m)
	mdns, isMDNS := p.(*rpcxplugin.MDNSRegisterPlugin)
	// MDNSRegisterPlugin.Start must come after the first Register: its refresh goroutine defers
	// p.server.Shutdown() with the p.server of that moment, nil before a Register, and Stop then
	// panics (rpcx's own example starts it first)
	if !isMDNS {
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("%s plugin: %w", scheme, err)
		}
	}
	s.Plugins.Add(p)
	if register != nil {
		err = register()
	} else {
		err = p.Register(name, rcvr, metadata)
	}
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if isMDNS {
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("%s plugin: %w", scheme, err)
		}
		return func() { mdns.Stop() }, nil
	}
	return func() {}, nil
}

// NewDiscovery makes the backend's discovery of service under basePath. timeout: mDNS's browse time.
func NewDiscovery(scheme, addr, basePath, service string, timeout time.Duration) (client.ServiceDiscovery, error) {
	switch scheme {
	case "mdns":
		// browsing again as soon as a browse ends (WatchInterval = Timeout), for --wait
		return client.NewMDNSDiscovery(service, timeout, timeout, "")
	case "redis":
		return redisclient.NewRedisDiscovery(basePath, service, []string{addr}, nil)
	case "etcd":
		return etcdclient.NewEtcdV3Discovery(basePath, service, []string{addr}, true, nil)
	default:
		return zkclient.NewZookeeperDiscovery(basePath, service, []string{addr}, nil)
	}
}

// WaitForServer waits up to wait for d to list a server (its watch), when its first listing is empty.
func WaitForServer(d client.ServiceDiscovery, wait time.Duration) {
	if wait <= 0 || len(d.GetServices()) > 0 {
		return
	}
	// mDNS cannot tell "no server" from "not answered yet" (a responder stays silent for a second
	// after multicasting a record, RFC 6762 §6): wait for the watch's next listings
	ch := d.WatchService()
	deadline := time.After(wait)
	for {
		select {
		case pairs := <-ch:
			if len(pairs) > 0 {
				return
			}
		case <-deadline:
			return
		}
	}
}
