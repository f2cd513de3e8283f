package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// startSim serves an in-process simulator with a chunk log for the test.
func startSim(t *testing.T, itl time.Duration) (string, *vllmsim.Server, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	srv, err := vllmsim.New(vllmsim.Config{Model: benchModel, TTFT: 2 * time.Millisecond, ITL: itl, ChunkLog: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String(), srv, log
}

// syncBuffer is a chunk log the test can read while the server writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFloorClientTimesEveryTokenOfTheStream(t *testing.T) {
	base, srv, log := startSim(t, 3*time.Millisecond)
	f, err := newFloorClient(base)
	if err != nil {
		t.Fatal(err)
	}
	const tokens = 6
	res := f.do("floor-7", tokens)
	if !res.OK || res.Error != "" || res.Tokens != tokens || len(res.ITL) != tokens-1 {
		t.Fatalf("floor request: %+v", res)
	}
	for _, gap := range res.ITL {
		if gap < 0 {
			t.Errorf("negative ITL %v", gap)
		}
	}
	// The server logs a request after its handler returns, which can be
	// just after the client read [DONE].
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), `"floor-7"`); time.Sleep(5 * time.Millisecond) {
		if err := srv.FlushChunkLog(); err != nil || time.Now().After(deadline) {
			t.Fatalf("request not in the chunk log (flush error %v)", err)
		}
	}
	entries := parseLog(t, log.String())
	te := compareTimings([]measured{res.measured}, entries)
	if te.Requests != 1 || te.Unmatched != 0 || te.ITL.N != tokens-1 {
		t.Fatalf("comparison with the chunk log: %+v", te)
	}
}

func parseLog(t *testing.T, s string) map[string]vllmsim.ChunkLogEntry {
	t.Helper()
	path := t.TempDir() + "/chunks.jsonl"
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readChunkLog(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompareTimingsMeasuresAgainstTheChunkFlushes(t *testing.T) {
	const ms = int64(time.Millisecond)
	log := map[string]vllmsim.ChunkLogEntry{
		"a": {RequestID: "a", ArrivalNs: 1000 * ms, TokenNs: []int64{1100 * ms, 1120 * ms, 1140 * ms}},
	}
	got := compareTimings([]measured{
		// started 1 ms before the server saw it; first token read 0.5 ms
		// after its flush; second gap read 1 ms late, third on time.
		{ID: "a", OK: true, StartUnixNs: 999 * ms, Tokens: 3, TTFT: 0.1015, ITL: []float64{0.021, 0.019}},
		{ID: "missing", OK: true, Tokens: 3, ITL: []float64{0.02, 0.02}},
		{ID: "a", OK: true, StartUnixNs: 999 * ms, Tokens: 2, ITL: []float64{0.02}},
		{ID: "b", OK: false},
	}, log)
	if got.Requests != 1 || got.Unmatched != 2 || got.Failed != 1 {
		t.Fatalf("counts: %+v", got)
	}
	near := func(what string, got, want float64) {
		if d := got - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v ms, want %v ms", what, got, want)
		}
	}
	near("TTFT mean", got.TTFT.Mean, 0.5)
	near("ITL max", got.ITL.Max, 1)
	near("ITL mean", got.ITL.Mean, 1)
}

func TestStressRequestIsTheProductionShape(t *testing.T) {
	r := stressRequest(1000, 2000, 4)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.SonnetInputLen != 512 || r.SonnetPrefixLen != 128 || r.SonnetOutputLen != 2 || !strings.HasSuffix(r.Endpoint, "chat/completions") {
		t.Errorf("stress request %+v is not sonnet 512/128/2 over chat", r)
	}
}
