#!/bin/sh
# Build the Go interop peers (goserver, goclient, gengolden, gotypes, goregistry, goquic, gootel, goclient-quic,
# goserver-registry, goclient-registry) against the real
# github.com/smallnest/rpcx into a cache directory outside the repository.
# Works from any directory. Prints the bin directory on its last line.
#
#   RPCX_INTEROP_BIN   output directory (default $HOME/.cache/rpcx-python/interop-bin)
#
# Go's build cache makes repeated runs cheap; no up-to-date check is needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${RPCX_INTEROP_BIN:-$HOME/.cache/rpcx-python/interop-bin}
mkdir -p "$bin"
cd "$here"
for prog in gengolden gotypes hashvec; do
    go build -buildvcs=false -o "$bin/$prog" "./$prog"
done
# rpcx's kcp network is behind its kcp build tag (kcp-go v5.4.20, already in rpcx's go.mod)
for prog in goserver goclient; do
    go build -tags kcp -buildvcs=false -o "$bin/$prog" "./$prog"
done
# its own module: Go's registry plugins bring dependencies the other peers do not need
(cd goregistry && go build -buildvcs=false -o "$bin/goregistry" .)
# its own module too: rpcx's quic tag needs quic-go replaced by v0.52.0, which must not touch the others
(cd goquic && go build -tags quic -buildvcs=false -o "$bin/goquic" .)
# its own module too: the OpenTelemetry SDK is for this peer only
(cd gootel && go build -buildvcs=false -o "$bin/gootel" .)
# goclient again with rpcx's quic tag, so its --suite runs over quic@: the same source, built against
# goclient-quic.mod (this module's path, goquic's requirements with quic-go v0.52.0)
go build -modfile=goclient-quic.mod -tags quic -buildvcs=false -o "$bin/goclient-quic" ./goclient
# goserver and goclient again with the registry tag (and kcp, which the peers use), so they take the contract's --registry and
# --base-path: the same source plus goserver/registry.go and goclient/registry.go, which reuse
# goregistry's code (goregistry/reg), built against goregistry-peers.mod (this module's path,
# goregistry's requirements, goregistry itself by a replace)
for prog in goserver goclient; do
    go build -modfile=goregistry-peers.mod -tags "registry kcp" -buildvcs=false -o "$bin/$prog-registry" "./$prog"
done
echo "$bin"
