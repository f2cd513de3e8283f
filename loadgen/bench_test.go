//go:build unix

package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"github.com/vibench/vllm-inference-benchmark/datasets"
)

// The client-CPU benchmarks talk to a server in a child process (this test
// binary re-executed), so the process's rusage is the client's alone.
const benchServerEnv = "LOADGEN_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) != "" {
		serveBench()
		return
	}
	os.Exit(m.Run())
}

const benchTokens = 128

// serveBench streams benchTokens chat tokens: /whole/ in one write,
// /each/ one event per write with a pause so that each lands in its own read.
func serveBench() {
	events := tokenEvents(true, benchTokens)
	whole := []byte(strings.Join(events, ""))
	mux := http.NewServeMux()
	mux.HandleFunc("/whole/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(whole)
	})
	mux.HandleFunc("/each/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		f := w.(http.Flusher)
		for _, e := range events {
			_, _ = w.Write([]byte(e))
			f.Flush()
			time.Sleep(100 * time.Microsecond)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, mux)
}

func startBenchServer(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + strings.TrimSpace(addr)
}

// benchmarkStream runs b.N rounds of `streams` concurrent requests and
// reports the client's CPU per streamed token.
func benchmarkStream(b *testing.B, mode string, streams int) {
	base := startBenchServer(b)
	c := newTestClient(b, base+"/"+mode, true, func(o *ClientOptions) { o.MaxConcurrency = streams })
	s := datasets.Sample{Prompt: "p", ExpectedOutputLen: benchTokens}
	c.Do(context.Background(), s, "warm")
	b.ReportAllocs()
	b.ResetTimer()
	user0, sys0 := rusage()
	for range b.N {
		var wg sync.WaitGroup
		for range streams {
			wg.Go(func() {
				if rec := c.Do(context.Background(), s, "r"); !rec.Success || rec.OutputTokens != benchTokens {
					b.Errorf("%+v", rec)
				}
			})
		}
		wg.Wait()
	}
	user1, sys1 := rusage()
	perToken := func(d float64) float64 { return d / float64(b.N*streams*benchTokens) * 1e6 }
	b.ReportMetric(perToken(user1-user0+sys1-sys0), "cpu-µs/token")
	b.ReportMetric(perToken(user1-user0), "user-µs/token")
	b.ReportMetric(perToken(sys1-sys0), "sys-µs/token")
}

// Client CPU per streamed token, 128 tokens back-to-back, one stream.
func BenchmarkClientCPUBackToBack(b *testing.B) { benchmarkStream(b, "whole", 1) }

// Client CPU per streamed token, one token per read: one stream (the
// runtime idles and wakes for every token) and 32 concurrent streams (a
// loaded client, as in a benchmark run).
func BenchmarkClientCPUOneTokenPerRead(b *testing.B) {
	b.Run("streams=1", func(b *testing.B) { benchmarkStream(b, "each", 1) })
	b.Run("streams=32", func(b *testing.B) { benchmarkStream(b, "each", 32) })
}

// Send lateness of a 500 req/s open-loop run (1 s per iteration).
func BenchmarkLateness500rps(b *testing.B) {
	base := startBenchServer(b)
	c := newTestClient(b, base+"/whole", true, nil)
	const rate, n = 500.0, 500
	arr := make([]Arrival, n)
	for i := range arr {
		arr[i] = Arrival{Index: i, Offset: float64(i+1) / rate}
	}
	samples := func(i int) (datasets.Sample, error) {
		return datasets.Sample{Index: i, Prompt: "p", ExpectedOutputLen: benchTokens}, nil
	}
	var p50, p99, mx, cpu, dur float64
	for range b.N {
		st, err := Run(context.Background(), RunOptions{Client: c, Samples: samples, Arrivals: arr, T0: time.Now()})
		if err != nil || st.Completed != n {
			b.Fatalf("%v %+v", err, st)
		}
		p50, p99, mx = max(p50, st.LatenessP50), max(p99, st.LatenessP99), max(mx, st.LatenessMax)
		cpu += st.CPUSeconds
		dur += st.Duration
	}
	b.ReportMetric(p50*1e3, "p50-ms")
	b.ReportMetric(p99*1e3, "p99-ms")
	b.ReportMetric(mx*1e3, "max-ms")
	b.ReportMetric(cpu/dur*100, "client-cpu-%")
}

var benchChunk = []byte(`{"id":"chatcmpl-9f2c","object":"chat.completion.chunk","created":1717000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}`)

// The per-message decoder against encoding/json into go-openai's type.
func BenchmarkDecodeEvent(b *testing.B) {
	for name, memo := range map[string]*eventMemo{"minimal": nil, "minimal_memo": {}} {
		b.Run(name, func(b *testing.B) {
			var ev event
			b.ReportAllocs()
			b.SetBytes(int64(len(benchChunk)))
			for range b.N {
				if err := decodeEvent(benchChunk, true, &ev, memo); err != nil || !ev.choices {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("encoding_json_go_openai", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchChunk)))
		for range b.N {
			var r openai.ChatCompletionStreamResponse
			if err := json.Unmarshal(benchChunk, &r); err != nil || len(r.Choices) == 0 {
				b.Fatal(err)
			}
		}
	})
}

// SSE framing + decoding + timing of 128 back-to-back events, no network.
func BenchmarkStreamParse(b *testing.B) {
	whole := []byte(strings.Join(tokenEvents(true, benchTokens), ""))
	b.ReportAllocs()
	b.SetBytes(int64(len(whole)))
	for range b.N {
		s := newStream(true, 0, benchTokens)
		if err := s.feed(whole, 1); err != nil || s.outputTokens != benchTokens {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTokens), "ns/token")
}

// rusage returns this process's user and system CPU seconds.
func rusage() (user, sys float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()) / 1e9, float64(ru.Stime.Nano()) / 1e9
}
