//go:build registry

// --registry for goclient, in the goclient-registry build only (build.sh: -tags registry against
// goregistry-peers.mod). The code is goregistry's (rpcxpy/interop/goregistry/reg).

package main

import (
	"time"

	"github.com/smallnest/rpcx/client"

	"rpcxpy/interop/goregistry/reg"
)

func init() {
	newRegistryDiscovery = func(registry, basePath, service string, wait time.Duration) (client.ServiceDiscovery, error) {
		scheme, addr, err := reg.Parse(registry)
		if err != nil {
			return nil, err
		}
		d, err := reg.NewDiscovery(scheme, addr, basePath, service, time.Second)
		if err != nil {
			return nil, err
		}
		reg.WaitForServer(d, wait)
		return d, nil
	}
}
