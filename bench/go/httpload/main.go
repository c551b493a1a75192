// httpload drives an rpcx HTTP gateway (HTTP invoke or JSON-RPC 2.0) with keep-alive connections
// and prints one JSON line: calls/s, p50/p99 latency in microseconds, errors.
//
//	httpload -url http://127.0.0.1:8972/ -mode invoke|jsonrpc -c 16 -n 20000 -d 5s
//
// Each of the -c workers has its own connection and sends Arith.Mul {"A":7,"B":8} (JSON), one
// request at a time; a reply other than 200 with C=56 is an error. The run stops after -n calls
// or -d, whichever comes first (bounded in count and time).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8972/", "gateway URL")
	mode := flag.String("mode", "invoke", "invoke or jsonrpc")
	conc := flag.Int("c", 16, "concurrent connections")
	total := flag.Int("n", 20000, "calls at most")
	dur := flag.Duration("d", 5*time.Second, "time at most")
	warm := flag.Int("warm", 200, "warm-up calls per worker, not measured")
	flag.Parse()

	body := []byte(`{"A":7,"B":8}`)
	if *mode == "jsonrpc" {
		body = []byte(`{"jsonrpc":"2.0","method":"Arith.Mul","params":{"A":7,"B":8},"id":1}`)
	}
	newReq := func() *http.Request {
		r, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
		if *mode == "jsonrpc" {
			r.Header.Set("X-JSONRPC-2.0", "true")
		} else {
			r.Header.Set("X-RPCX-SerializeType", "1")
			r.Header.Set("X-RPCX-ServicePath", "Arith")
			r.Header.Set("X-RPCX-ServiceMethod", "Mul")
		}
		return r
	}
	check := func(resp *http.Response) bool {
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return false
		}
		if *mode == "jsonrpc" {
			var v struct{ Result struct{ C int } }
			return json.Unmarshal(data, &v) == nil && v.Result.C == 56
		}
		var v struct{ C int }
		return json.Unmarshal(data, &v) == nil && v.C == 56
	}

	var left int64 = int64(*total)
	var errs int64
	lat := make([][]time.Duration, *conc)
	var wg, warmed sync.WaitGroup
	start := make(chan struct{})
	deadline := time.Now().Add(*dur + 2*time.Second)
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		warmed.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1},
				Timeout: 10 * time.Second}
			for i := 0; i < *warm; i++ {
				if resp, err := client.Do(newReq()); err == nil {
					check(resp)
				}
			}
			warmed.Done()
			<-start
			for atomic.AddInt64(&left, -1) >= 0 && time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Do(newReq())
				if err != nil || !check(resp) {
					atomic.AddInt64(&errs, 1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	warmed.Wait() // every worker has warmed up (and connected) before the clock starts
	t0 := time.Now()
	deadline = t0.Add(*dur)
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "httpload: no successful calls")
		os.Exit(1)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	out, _ := json.Marshal(map[string]any{
		"calls": len(all), "errors": errs, "seconds": elapsed.Seconds(),
		"calls_per_s": float64(len(all)) / elapsed.Seconds(),
		"p50_us": all[len(all)/2].Microseconds(), "p99_us": all[len(all)*99/100].Microseconds(),
	})
	fmt.Println(string(out))
}
