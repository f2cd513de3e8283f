package main

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// The worker's metrics count failed requests by replica and reason, so an
// operator's dashboard shows a refused replica apart from one answering 500.
func TestTelemetryCountsFailuresByReplicaAndReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	tel := newTelemetry(reg)
	for range 3 {
		tel.Observe("run-1", 1, metrics.Record{Status: metrics.StatusFailed,
			Error: `Post "http://10.0.0.2:8000/v1/completions": dial tcp 10.0.0.2:8000: connect: connection refused`})
	}
	tel.Observe("run-1", 0, metrics.Record{Status: metrics.StatusFailed, Error: "Internal Server Error"})
	tel.Observe("run-1", 0, metrics.Record{Status: metrics.StatusCompleted, OutputTokens: 2})
	want := `
# HELP vib_failures_total Failed requests by reason (connection refused, HTTP 500, EOF, timed out...).
# TYPE vib_failures_total counter
vib_failures_total{reason="HTTP 500 Internal Server Error",replica="0",run_id="run-1"} 1
vib_failures_total{reason="connection refused",replica="1",run_id="run-1"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vib_failures_total"); err != nil {
		t.Fatal(err)
	}
}
