package main

// Side channels (--side-dir): Go rpcx's own file transfer and stream services,
// so Python clients can be checked against them.
//
//	_filetransfer: uploads are saved as DIR/<FileName> (written to a temporary
//	               name and renamed once the client closes), downloads are
//	               served from DIR/<FileName>; side listener on --file-addr.
//	_streamservice: echoes every byte back until the client closes; side
//	               listener on --stream-addr. A stream whose meta has
//	               "refuse" set is refused by the acceptor.
//
// Go's side listeners reply with the address they were given, so the ports
// must be real (not 0).

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"
)

func enableSideChannels(s *server.Server, dir, fileAddr, streamAddr string) error {
	if fileAddr == "" || streamAddr == "" {
		return fmt.Errorf("--side-dir needs --file-addr and --stream-addr")
	}
	upload := func(conn net.Conn, args *share.FileTransferArgs) {
		defer conn.Close()
		name := filepath.Base(args.FileName)
		tmp, err := os.CreateTemp(dir, ".upload-*")
		if err != nil {
			fmt.Fprintln(os.Stderr, "goserver: upload:", err)
			return
		}
		n, err := io.Copy(tmp, conn)
		tmp.Close()
		if err != nil || n != args.FileSize {
			fmt.Fprintf(os.Stderr, "goserver: upload of %s: %d of %d bytes (%v); discarded\n", name, n, args.FileSize, err)
			os.Remove(tmp.Name())
			return
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
			fmt.Fprintln(os.Stderr, "goserver: upload:", err)
		}
	}
	download := func(conn net.Conn, args *share.DownloadFileArgs) {
		defer conn.Close()
		f, err := os.Open(filepath.Join(dir, filepath.Base(args.FileName)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "goserver: download:", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(conn, f)
	}
	echo := func(conn net.Conn, args *share.StreamServiceArgs) {
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}
	accept := func(ctx context.Context, args *share.StreamServiceArgs) bool {
		return args.Meta["refuse"] == ""
	}
	s.EnableFileTransfer(share.SendFileServiceName, server.NewFileTransfer(fileAddr, upload, download, 100))
	s.EnableStreamService(share.StreamServiceName, server.NewStreamService(streamAddr, echo, accept, 100))
	// Start() listens in a goroutine: wait until both accept, so that "serving" means ready.
	for _, addr := range []string{fileAddr, streamAddr} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close() // Go logs "failed to read token" for this probe
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("side listener %s: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}
