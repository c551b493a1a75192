//go:build registry

// --registry for goserver, in the goserver-registry build only (build.sh: -tags registry against
// goregistry-peers.mod, which adds Go's registry plugins; the plain goserver stays without them).
// The code is goregistry's (rpcxpy/interop/goregistry/reg).

package main

import (
	"time"

	"github.com/smallnest/rpcx/server"

	"rpcxpy/interop/goregistry/reg"
)

func init() {
	withRegistry = func(s *server.Server, registry, basePath, service, name string, rcvr interface{}) (func(), error) {
		scheme, addr, err := reg.Parse(registry)
		if err != nil {
			return nil, err
		}
		// Arith is registered on s already: the plugin's Register publishes it (s.Shutdown unregisters)
		return reg.Publish(s, scheme, addr, service, basePath, time.Second, nil, name, rcvr, "", nil)
	}
}
