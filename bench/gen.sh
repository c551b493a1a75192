#!/bin/sh
# Regenerate the protobuf code for the benchmark (the generated files are committed; run this only
# after editing proto/benchmark.proto). Python: grpc_tools.protoc from the project venv. Go: the
# protoc-gen-go / protoc-gen-go-grpc plugins are installed with `go install` into a cache
# directory outside the repository.
#
#   RPCX_BENCH_GOBIN   plugin directory (default $HOME/.cache/rpcx-python/gobin)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
py=${PYTHON:-$root/.venv/bin/python}
gobin=${RPCX_BENCH_GOBIN:-$HOME/.cache/rpcx-python/gobin}
mkdir -p "$gobin"
[ -x "$gobin/protoc-gen-go" ] || GOBIN="$gobin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
[ -x "$gobin/protoc-gen-go-grpc" ] || GOBIN="$gobin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
cd "$here"
# -Ibenchpb=proto makes the Python imports read `from benchpb import benchmark_pb2`
"$py" -m grpc_tools.protoc -Ibenchpb=proto \
    --python_out=. --pyi_out=. --grpc_python_out=. \
    --plugin=protoc-gen-go="$gobin/protoc-gen-go" --go_out=go --go_opt=module=rpcxpy/bench \
    --plugin=protoc-gen-go-grpc="$gobin/protoc-gen-go-grpc" --go-grpc_out=go --go-grpc_opt=module=rpcxpy/bench \
    proto/benchmark.proto
