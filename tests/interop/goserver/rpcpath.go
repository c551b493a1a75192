package main

// --rpc-path: rpcx's Server.Serve("http", ...) always mounts the CONNECT handler at
// share.DefaultRPCPath (/_rpcx_); a Go program that wants another path mounts the Server, which is
// an http.Handler (Server.ServeHTTP), on its own mux. That is what this does, for http@ only.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/server"
)

func serveHTTPPath(s *server.Server, address, path string) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle(path, s)
	hs := &http.Server{Handler: mux}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	fmt.Fprintf(os.Stdout, "serving http@%s\n", ln.Addr())
	_ = os.Stdout.Sync()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "goserver: %v, shutting down\n", sig)
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.Shutdown(ctx) // closes the hijacked rpcx connections once their calls are done
		cancel()
		os.Exit(0)
	case err := <-serveErr:
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
}
