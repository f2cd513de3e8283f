package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// The kernel's receive timestamps put each token where it arrived, not
// where a busy client got round to reading it.
func TestTimesAreArrivalTimesWhenTheReaderIsLate(t *testing.T) {
	rs, err := reactors()
	if err != nil {
		t.Fatal(err)
	}
	// Headers and the first token at once, the next tokens 60 ms apart.
	// Once the request is in, every reactor is held for 40 ms: the first
	// token is read about 40 ms after it arrived.
	url, _ := pieceServer(t, 60*time.Millisecond, func(int) []string {
		for _, r := range rs {
			r.mu.Lock()
		}
		go func() {
			time.Sleep(40 * time.Millisecond)
			for _, r := range rs {
				r.mu.Unlock()
			}
		}()
		p := chunked(tokenEvents(false, 3))
		return append([]string{p[0] + p[1]}, p[2:]...)
	})
	c := newTestClient(t, url, false, nil)
	rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 3}, "r")
	if rec.Status != metrics.StatusCompleted {
		t.Fatalf("%+v", rec)
	}
	if rec.TTFT > 0.02 || len(rec.ITL) != 2 || rec.ITL[0] < 0.05 {
		t.Errorf("ttft %.4f s, itl %v: the first token got its read time, not its arrival time", rec.TTFT, rec.ITL)
	}
}

// Plain http is timed by the raw transport on Linux, and the result says so.
func TestTransportIsNamed(t *testing.T) {
	if got := TransportFor("http://127.0.0.1:8000/v1/completions"); got != rawTransportName {
		t.Errorf("http: %q", got)
	}
	if got := TransportFor("https://example.com/v1/completions"); got != netHTTPName {
		t.Errorf("https: %q", got)
	}
}
