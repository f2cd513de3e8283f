package metrics_test

import (
	"testing"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

func TestFailureReason(t *testing.T) {
	for text, want := range map[string]string{
		`request failed: Post "http://h:8000/v1/completions": dial tcp 1.2.3.4:8000: connect: connection refused`: "connection refused",
		"Internal Server Error":                                       "HTTP 500 Internal Server Error",
		"Service Unavailable":                                         "HTTP 503 Service Unavailable",
		"stream broken: unexpected EOF":                               "connection closed by the server (EOF)",
		"timed out: the request took longer than 6h0m0s":              "timed out",
		"stalled: no bytes from the server for 5m0s":                  "stalled",
		"stream broken: read tcp 1.2.3.4:5: connection reset by peer": "connection reset",
		"malformed stream message: invalid character 'x'":             "malformed stream message",
	} {
		if got := metrics.FailureReason(text); got != want {
			t.Errorf("FailureReason(%q) = %q, want %q", text, got, want)
		}
	}
}

// A summary counts its failures by reason and keeps them through merges.
func TestSummaryCountsFailuresByReason(t *testing.T) {
	a, b := metrics.NewSummary(), metrics.NewSummary()
	a.Add(metrics.Record{Status: metrics.StatusFailed, Error: "Internal Server Error"})
	a.Add(metrics.Record{Status: metrics.StatusCompleted, Success: true, TTFT: 0.1, Latency: 0.2, OutputTokens: 2})
	b.Add(metrics.Record{Status: metrics.StatusFailed, Error: "dial tcp 1.2.3.4:8000: connect: connection refused"})
	b.Add(metrics.Record{Status: metrics.StatusFailed, Error: "Internal Server Error"})
	b.Add(metrics.Record{Status: metrics.StatusInterrupted, Error: "cut off"})
	a.Merge(b)
	want := map[string]int{"HTTP 500 Internal Server Error": 2, "connection refused": 1}
	if len(a.Failures) != len(want) || a.Failures["HTTP 500 Internal Server Error"] != 2 || a.Failures["connection refused"] != 1 {
		t.Errorf("failures %v, want %v", a.Failures, want)
	}
	if a.LastError != "Internal Server Error" || a.Statuses.Failed != 3 {
		t.Errorf("last error %q, failed %d", a.LastError, a.Statuses.Failed)
	}
}
