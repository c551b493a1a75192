// goserver serves the Arith interop service with the real Go rpcx server.
//
//	goserver ADDRESS [--cert F --key F] [--auth TOKEN] [--max-message-length N] [--cors] [--kcp-key PASS]
//	         [--side-dir DIR --file-addr H:P --stream-addr H:P] [--rpc-path /PATH]
//	         [--registry URL [--base-path P]]   (goserver-registry build only)
//
// ADDRESS is network@address: tcp@127.0.0.1:PORT, tcp4@..., tcp6@[::1]:PORT,
// unix@/path.sock, http@ (CONNECT), ws@, wss@ (needs --cert/--key), reuseport@,
// kcp@ (built with -tags kcp; --kcp-key, default "rpcx-key", derives the AES key as the rpcx
// examples; on exit it prints kcp-go's FEC counters to stderr: "goserver: kcp fec_recovered=N ...").
// PORT may be 0. Once listening it prints exactly one line
// "serving <network>@<actual address>" to stdout (for reuseport, "serving tcp@...":
// what Go registers and what clients dial). rpcx's own log goes to
// stderr (level from RPCX_LOG_LEVEL, default errors only). SIGINT/SIGTERM
// shut it down gracefully (Server.Shutdown) and it exits 0.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"

	"rpcxpy/interop/arith"
)

// withRegistry publishes name (registered on s) as service (network@host:port) at the --registry URL
// and returns what to call after s.Shutdown; set by registry.go in the goserver-registry build only.
var withRegistry func(s *server.Server, registry, basePath, service, name string, rcvr interface{}) (func(), error)

func usage(fs *flag.FlagSet) {
	fmt.Fprintln(os.Stderr, "usage: goserver ADDRESS [--cert F --key F] [--auth TOKEN] [--max-message-length N] [--cors]")
	fmt.Fprintln(os.Stderr, "  ADDRESS: tcp@127.0.0.1:PORT | tcp4@127.0.0.1:PORT | tcp6@[::1]:PORT | unix@/path.sock |")
	fmt.Fprintln(os.Stderr, "           http@127.0.0.1:PORT | ws@127.0.0.1:PORT | wss@127.0.0.1:PORT | reuseport@127.0.0.1:PORT")
	fs.PrintDefaults()
}

func main() {
	// rpcx logs to stdout by default (log/logger.go); keep stdout for our one line.
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "rpcx ", stdlog.LstdFlags|stdlog.Lmicroseconds, log.LvError))

	fs := flag.NewFlagSet("goserver", flag.ContinueOnError)
	cert := fs.String("cert", "", "TLS certificate file (PEM); tcp, http, ws, wss")
	key := fs.String("key", "", "TLS private key file (PEM)")
	auth := fs.String("auth", "", "require this exact __AUTH token")
	maxLen := fs.Int("max-message-length", 0, "sets protocol.MaxMessageLength (0 = unlimited)")
	allowCORS := fs.Bool("cors", false, "gateway and JSON-RPC answer CORS (server.AllowAllCORSOptions)")
	sideDir := fs.String("side-dir", "", "enable _filetransfer and _streamservice on this directory (side.go)")
	fileAddr := fs.String("file-addr", "", "with --side-dir: file transfer side listener host:port")
	streamAddr := fs.String("stream-addr", "", "with --side-dir: stream side listener host:port")
	kcpKey := fs.String("kcp-key", "rpcx-key", "kcp: the block crypt password (pbkdf2-sha1, salt rpcx-salt, AES-256)")
	rpcPath := fs.String("rpc-path", "", "http@ only: mount the CONNECT handler at this path (rpcpath.go)")
	registry := fs.String("registry", "", "register Arith at redis://|etcd://|zookeeper://H:P or mdns:// (goserver-registry build)")
	basePath := fs.String("base-path", "/rpcx_test", "with --registry: the registry base path")
	fs.Usage = func() { usage(fs) }
	pos, err := arith.ParseArgs(fs, os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	if len(pos) != 1 {
		usage(fs)
		os.Exit(2)
	}
	network, address := arith.SplitAddress(pos[0])

	var opts []server.OptionFn
	onExit := func() {}
	if *cert != "" || *key != "" {
		if *cert == "" || *key == "" {
			fmt.Fprintln(os.Stderr, "goserver: --cert and --key go together")
			os.Exit(2)
		}
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goserver:", err)
			os.Exit(1)
		}
		opts = append(opts, server.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair}}))
		if network == "unix" {
			fmt.Fprintln(os.Stderr, "goserver: warning: rpcx ignores TLS for unix sockets")
		}
	}
	if network == "kcp" {
		block, err := arith.KCPBlock(*kcpKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goserver:", err)
			os.Exit(1)
		}
		opts = append(opts, server.WithBlockCrypt(block)) // needs -tags kcp (build.sh)
		onExit = func() {
			rec, parity, csum := arith.KCPStats()
			fmt.Fprintf(os.Stderr, "goserver: kcp fec_recovered=%d fec_parity_shards=%d in_csum_errors=%d\n", rec, parity, csum)
		}
	}
	if *maxLen > 0 {
		// v1.9.4 has no server.WithMaxMessageLength; the limit is a package global.
		protocol.MaxMessageLength = *maxLen
	}

	s := server.NewServer(opts...)
	if *allowCORS {
		s.SetCORS(server.AllowAllCORSOptions())
	}
	if *auth != "" {
		token := *auth
		s.AuthFunc = func(ctx context.Context, req *protocol.Message, got string) error {
			if got == token {
				return nil
			}
			return errors.New("invalid token")
		}
	}
	if *registry != "" && withRegistry == nil {
		fmt.Fprintln(os.Stderr, "goserver: --registry needs the goserver-registry build (tests/interop/build.sh)")
		os.Exit(2)
	}
	rcvr := &arith.Arith{Server: s}
	if err := s.RegisterName("Arith", rcvr, ""); err != nil {
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}

	if *sideDir != "" {
		if err := enableSideChannels(s, *sideDir, *fileAddr, *streamAddr); err != nil {
			fmt.Fprintln(os.Stderr, "goserver:", err)
			os.Exit(1)
		}
	}

	if network == "unix" {
		// remove a stale socket left by a killed server (only if it is a socket)
		if fi, err := os.Lstat(address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(address)
		}
	}

	if *rpcPath != "" {
		if network != "http" || *cert != "" {
			fmt.Fprintln(os.Stderr, "goserver: --rpc-path is for http@ without TLS")
			os.Exit(2)
		}
		serveHTTPPath(s, address, *rpcPath)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(network, address) }()

	// rpcx's http and ws servers never close s.Started: poll s.Address() for them
	started := s.Started
	if network == "http" || network == "ws" || network == "wss" {
		ch := make(chan struct{})
		go func() {
			for s.Address() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			close(ch)
		}()
		started = ch
	}
	select {
	case <-started:
	case err := <-serveErr:
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "goserver: not listening after 30s")
		os.Exit(1)
	}
	actual := address
	if a := s.Address(); a != nil {
		actual = a.String()
	}
	if network == "reuseport" {
		network = "tcp" // Go clients cannot dial reuseport@; reuseport servers register as tcp@
	}
	afterShutdown := func() {}
	if *registry != "" {
		// published once listening: with port 0 the address is known only now
		after, err := withRegistry(s, *registry, *basePath, network+"@"+actual, "Arith", rcvr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goserver:", err)
			os.Exit(1)
		}
		afterShutdown = after
	}
	fmt.Fprintf(os.Stdout, "serving %s@%s\n", network, actual)
	_ = os.Stdout.Sync()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "goserver: %v, shutting down\n", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.Shutdown(ctx)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "goserver: shutdown:", err)
		}
		afterShutdown() // mDNS: the goodbye packets
		select {
		case <-serveErr:
		case <-time.After(2 * time.Second):
		}
		onExit()
		os.Exit(0)
	case err := <-serveErr:
		if err != nil && !errors.Is(err, server.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "goserver:", err)
			os.Exit(1)
		}
	}
}
