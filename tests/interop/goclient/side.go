package main

// Side channels with Go's own XClient.SendFile, DownloadFile and Stream
// (--upload, --download/--save-to, --stream-echo), against any server that
// offers _filetransfer and _streamservice. One line per step on stdout:
//
//	uploaded NAME
//	downloaded N bytes
//	stream echoed N bytes
//	stream refused: ERROR      (exit status 1)

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smallnest/rpcx/share"
)

type sideFlags struct {
	upload, download, saveTo string
	rate                     int64
	streamEcho               int
	meta                     string
}

func (f *sideFlags) any() bool { return f.upload != "" || f.download != "" || f.streamEcho > 0 }

func runSide(cfg *config, f *sideFlags) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var meta map[string]string
	if f.meta != "" {
		meta = map[string]string{f.meta: "1"}
	}
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "goclient: %s: %v\n", what, err)
		return 1
	}
	if f.upload != "" || f.download != "" {
		xc := cfg.xclient(share.SendFileServiceName, cfg.option(cfg.codec))
		defer xc.Close()
		if f.upload != "" {
			if err := xc.SendFile(ctx, f.upload, f.rate, meta); err != nil {
				return fail("upload", err)
			}
			fmt.Printf("uploaded %s\n", f.upload)
		}
		if f.download != "" {
			out, err := os.Create(f.saveTo)
			if err != nil {
				return fail("download", err)
			}
			cw := &countWriter{w: out}
			err = xc.DownloadFile(ctx, f.download, cw, meta)
			out.Close()
			if err != nil {
				return fail("download", err)
			}
			fmt.Printf("downloaded %d bytes\n", cw.n)
		}
	}
	if f.streamEcho > 0 {
		xc := cfg.xclient(share.StreamServiceName, cfg.option(cfg.codec))
		defer xc.Close()
		conn, err := xc.Stream(ctx, meta)
		if err != nil {
			fmt.Printf("stream refused: %v\n", err)
			return 1
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
		data := make([]byte, f.streamEcho)
		_, _ = rand.Read(data)
		werr := make(chan error, 1)
		go func() { _, err := conn.Write(data); werr <- err }()
		got := make([]byte, len(data))
		if _, err := io.ReadFull(conn, got); err != nil {
			return fail("stream read", err)
		}
		if err := <-werr; err != nil {
			return fail("stream write", err)
		}
		if !bytes.Equal(got, data) {
			return fail("stream", fmt.Errorf("echo differs"))
		}
		fmt.Printf("stream echoed %d bytes\n", len(got))
	}
	return 0
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
