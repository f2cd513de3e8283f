//go:build unix

package vllmsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a streaming ResponseWriter that drops the body.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// BenchmarkHandlerPerToken is the simulator's own cost per streamed token
// (chunk building, metrics, chunk log), without network: one op = one token.
func BenchmarkHandlerPerToken(b *testing.B) {
	const tokens = 1000
	sim, err := vllmsim.New(vllmsim.Config{Model: model, ChunkLog: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(chatBody("hello", tokens, true))
	h := sim.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += tokens {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	}
}

// BenchmarkStreamOverHTTP streams over loopback HTTP with a client that
// discards the bytes: one op = one token; cpu-ns/token is the whole
// process (server and client) from getrusage.
func BenchmarkStreamOverHTTP(b *testing.B) {
	const tokens, workers = 1000, 4
	_, ts := start(b, vllmsim.Config{})
	body, _ := json.Marshal(completionsBody("hello", tokens, true))
	requests := (b.N + tokens - 1) / tokens
	work := make(chan struct{}, requests)
	for range requests {
		work <- struct{}{}
	}
	close(work)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range work {
				resp, err := http.Post(ts.URL+"/v1/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(requests*tokens), "cpu-ns/token")
}

// BenchmarkLateness runs concurrent chat streams (10 and 1,000) and reports
// how late the server's flushes were against their deadlines
// (start + TTFT + k*ITL, from the chunk log).
func BenchmarkLateness(b *testing.B) {
	for _, streams := range []int{10, 1000} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) { benchLateness(b, streams) })
	}
}

func benchLateness(b *testing.B, streams int) {
	const tokens = 50
	const ttft, itl = 200 * time.Millisecond, 20 * time.Millisecond
	for range b.N {
		log := &syncBuffer{}
		sim, ts := start(b, vllmsim.Config{TTFT: ttft, ITL: itl, ChunkLog: log})
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
		body, _ := json.Marshal(chatBody("hello", tokens, true))
		cpu0 := cpuTime(b)
		var wg sync.WaitGroup
		for i := range streams {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("x-request-id", fmt.Sprint(i))
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
		cpu := cpuTime(b) - cpu0
		if err := sim.FlushChunkLog(); err != nil {
			b.Fatal(err)
		}
		var late []time.Duration
		for _, e := range log.entries(b) {
			for k, t := range e.TokenNs {
				due := e.StartNs + int64(ttft+time.Duration(k)*itl)
				late = append(late, time.Duration(t-due))
			}
		}
		if len(late) != streams*tokens {
			b.Fatalf("%d token times, want %d", len(late), streams*tokens)
		}
		slices.Sort(late)
		q := func(p float64) float64 { return float64(late[int(p*float64(len(late)-1))]) / 1e3 }
		b.ReportMetric(q(0.5), "p50-late-µs")
		b.ReportMetric(q(0.99), "p99-late-µs")
		b.ReportMetric(q(1), "max-late-µs")
		b.ReportMetric(float64(cpu)/float64(streams*tokens), "cpu-ns/token")
		client.CloseIdleConnections()
		ts.Close()
	}
}
