package engine_test

import (
	"context"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// A recorder closed right after it starts (a resumed slice with nothing
// left to send) still stores what it was given and returns.
func TestRecorderClosedAtOnceStoresEverything(t *testing.T) {
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		rec := &engine.Recorder{Store: store, RunID: "run", Slice: i, Replica: 0, FirstPart: 2}
		rec.Start(context.Background())
		rec.Add(metrics.Record{Index: i, Status: metrics.StatusInterrupted})
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		if parts, n := rec.Stored(); parts != 3 || n != 1 {
			t.Fatalf("stored parts %d records %d, want 3 and 1", parts, n)
		}
		if ok, _ := store.Exists(context.Background(), results.PartKey("run", i, 0, 2)); !ok {
			t.Fatalf("part 2 of slice %d not stored", i)
		}
	}
}
