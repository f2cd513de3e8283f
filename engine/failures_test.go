package engine_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// A replica that refuses connections for two slices is named in the
// failures, with its reasons counted and a warning.
func TestAggregateCountsFailuresByReplicaAndReason(t *testing.T) {
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const perUnit = 10
	refused := `request failed: Post "http://10.0.0.7:8000/v1/completions": dial tcp 10.0.0.7:8000: connect: connection refused`
	for slice := range 3 {
		for replica := range 2 {
			var recs []metrics.Record
			for i := range perUnit {
				slow := 1 + 4*float64(replica) // replica 1 answers 5 times slower
				r := metrics.Record{Index: slice*perUnit + i, Replica: replica, Status: metrics.StatusCompleted, Success: true,
					TTFT: 0.01 * slow, Latency: 0.02 * slow, OutputTokens: 2, ITL: []float64{0.002 * slow}}
				switch {
				case replica == 1 && slice > 0:
					r = metrics.Record{Index: r.Index, Replica: 1, Status: metrics.StatusFailed, Error: refused, ITL: []float64{}}
				case replica == 0 && i == 0:
					r = metrics.Record{Index: r.Index, Replica: 0, Status: metrics.StatusFailed, Error: "Internal Server Error", ITL: []float64{}}
				}
				recs = append(recs, r)
			}
			body, err := results.EncodePart(recs)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Put(t.Context(), results.PartKey("run", slice, replica, 1, 0), body); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := aggregateStored(t, store).Failures
	if len(f.Replicas) != 2 {
		t.Fatalf("replicas %+v", f.Replicas)
	}
	r0, r1 := f.Replicas[0], f.Replicas[1]
	if r0.Failed != 3 || r0.Completed != 27 || !slices.Equal(r0.Reasons, []engine.ReasonCount{{Reason: "HTTP 500 Internal Server Error", Count: 3}}) ||
		r0.UnreachableSlices != nil {
		t.Errorf("replica 0: %+v", r0)
	}
	if r1.Failed != 20 || r1.Completed != 10 || !slices.Equal(r1.Reasons, []engine.ReasonCount{{Reason: "connection refused", Count: 20}}) ||
		!slices.Equal(r1.UnreachableSlices, []int{2, 3}) {
		t.Errorf("replica 1: %+v", r1)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "replica 1 was unreachable in 2 slices") {
		t.Errorf("warnings %q", f.Warnings)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.01*want }
	if !near(r0.TTFTP99Ms, 10) || !near(r1.TTFTP99Ms, 50) || !near(r0.ITLP99Ms, 2) || !near(r1.ITLP99Ms, 10) {
		t.Errorf("TTFT p99 %v / %v ms, ITL p99 %v / %v ms; want 10 / 50 and 2 / 10", r0.TTFTP99Ms, r1.TTFTP99Ms, r0.ITLP99Ms, r1.ITLP99Ms)
	}
	if want := 100 * 23.0 / 60; f.FailedPct != want {
		t.Errorf("failed %% %v, want %v", f.FailedPct, want)
	}
}
