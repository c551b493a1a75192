// gotypes is the Go side of the "types across the wire" interop tests.
//
//	gotypes serve ADDRESS               serve Types (Echo, EchoItem) with the Go rpcx server
//	gotypes check ADDRESS --codec C [--refuse]   send every sample to Types.Echo at ADDRESS and compare
//
// serve prints "serving <network>@<address>" once listening and stops on
// SIGINT/SIGTERM. check prints one line per check ("ok NAME" or
// "FAIL NAME: reason") and "suite: X ok, Y failed", exiting 1 on any failure.
// A sample passes when the echo is reflect.DeepEqual to the same sample sent
// through Go's own codec (encode, then decode): the peer must be
// indistinguishable from Go, nil and empty, time and nanoseconds included.
package main

import (
	"context"
	"flag"
	"fmt"
	stdlog "log"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"

	"rpcxpy/interop/arith"
	"rpcxpy/interop/types"
)

func main() {
	log.SetLogger(log.NewDefaultLogger(os.Stderr, "rpcx ", stdlog.LstdFlags|stdlog.Lmicroseconds, log.LvError))
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gotypes serve ADDRESS | gotypes check ADDRESS --codec json|msgpack")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2])
	case "check":
		fs := flag.NewFlagSet("check", flag.ExitOnError)
		codec := fs.String("codec", "msgpack", "json or msgpack")
		refuse := fs.Bool("refuse", false, "also check that values Go's struct cannot hold are refused (Go's own msgpack codec wraps or misreads them)")
		pos, err := arith.ParseArgs(fs, os.Args[2:])
		if err != nil || len(pos) != 1 {
			os.Exit(2)
		}
		os.Exit(check(pos[0], *codec, *refuse))
	default:
		fmt.Fprintln(os.Stderr, "gotypes: unknown command", os.Args[1])
		os.Exit(2)
	}
}

func serve(addr string) {
	network, address := arith.SplitAddress(addr)
	s := server.NewServer()
	if err := s.RegisterName("Types", new(types.Types), ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(network, address) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Address() == nil {
		select {
		case err := <-errc:
			fmt.Fprintln(os.Stderr, "gotypes:", err)
			os.Exit(1)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "gotypes: server did not start")
			os.Exit(1)
		}
	}
	fmt.Printf("serving %s@%s\n", network, s.Address().String())
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}

func serType(name string) protocol.SerializeType {
	if name == "json" {
		return protocol.JSON
	}
	return protocol.MsgPack
}

// goRoundTrip is what Go itself makes of v after one trip through codec st.
func goRoundTrip(st protocol.SerializeType, v interface{}, out interface{}) error {
	c := share.Codecs[st]
	data, err := c.Encode(v)
	if err != nil {
		return err
	}
	return c.Decode(data, out)
}

// BadInt8 is Everything with I8 widened, to send a value an int8 cannot hold.
type BadInt8 struct{ I8 int64 }

// BadInt is Everything with I as a float, to send 5.5 into an int field.
type BadInt struct{ I float64 }

// BadBytes sends a number where Everything has []byte.
type BadBytes struct{ Bytes int }

func check(addr, codec string, refuse bool) int {
	network, address := arith.SplitAddress(addr)
	_ = network
	opt := client.DefaultOption
	opt.SerializeType = serType(codec)
	d, _ := client.NewPeer2PeerDiscovery(addr, "")
	_ = address
	xc := client.NewXClient("Types", client.Failfast, client.RandomSelect, d, opt)
	defer xc.Close()
	ok, failed := 0, 0
	report := func(name string, err error) {
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", name, err)
		} else {
			ok++
			fmt.Printf("ok %s\n", name)
		}
	}
	samples := types.Samples()
	names := make([]string, 0, len(samples))
	for n := range samples {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sample := samples[name]
		report("echo_"+name, func() error {
			var want, got types.Everything
			if err := goRoundTrip(opt.SerializeType, sample, &want); err != nil {
				return fmt.Errorf("go round trip: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := xc.Call(ctx, "Echo", sample, &got); err != nil {
				return err
			}
			if !reflect.DeepEqual(want, got) {
				return fmt.Errorf("not DeepEqual\n  want %#v\n  got  %#v", want, got)
			}
			return nil
		}())
	}
	items := types.SampleItems()
	for _, name := range []string{"empty", "nil", "time"} {
		report("echo_item_"+name, func() error {
			var want, got types.Item
			if err := goRoundTrip(opt.SerializeType, items[name], &want); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := xc.Call(ctx, "EchoItem", items[name], &got); err != nil {
				return err
			}
			if !reflect.DeepEqual(want, got) {
				return fmt.Errorf("not DeepEqual\n  want %#v\n  got  %#v", want, got)
			}
			return nil
		}())
	}
	// Values Go's struct could not hold: the peer must refuse them with an error naming the field.
	bad := []struct {
		name string
		args interface{}
		want string
	}{
		{"refuse_int8_overflow", &BadInt8{I8: 300}, "Go struct field Everything.I8 of type int8"},
		{"refuse_float_in_int", &BadInt{I: 5.5}, "cannot unmarshal number 5.5 into Go struct field Everything.I of type int"},
		{"refuse_number_in_bytes", &BadBytes{Bytes: 5}, "Go struct field Everything.Bytes of type []uint8"},
	}
	for _, b := range bad {
		if !refuse {
			break
		}
		report(b.name, func() error {
			var got types.Everything
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := xc.Call(ctx, "Echo", b.args, &got)
			if err == nil {
				return fmt.Errorf("no error; got %#v", got)
			}
			if !strings.Contains(err.Error(), b.want) {
				return fmt.Errorf("error %q does not contain %q", err.Error(), b.want)
			}
			fmt.Printf("info %s: %s\n", b.name, err.Error())
			return nil
		}())
	}
	fmt.Printf("suite: %d ok, %d failed\n", ok, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
