package engine_test

import (
	"fmt"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

func putPart(t *testing.T, store results.Store, attempt, part int, recs ...metrics.Record) {
	t.Helper()
	body, err := results.EncodePart(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(t.Context(), results.PartKey("run", 0, 0, attempt, part), body); err != nil {
		t.Fatal(err)
	}
}

func rec(i int, status metrics.Status, note string) metrics.Record {
	return metrics.Record{Index: i, Status: status, Success: status == metrics.StatusCompleted, Error: note}
}

// The reading rule: each index once; a measured record beats an
// interrupted one whatever attempt wrote it; otherwise the first in read
// order; parts written after a compaction (a cut-off attempt still
// writing) are read beside it.
func TestReadUnitTakesEachIndexOnceByTheRule(t *testing.T) {
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Attempt 1 measured 0-2 and was cut off from Temporal with 3 in flight.
	putPart(t, store, 1, 0, rec(0, metrics.StatusCompleted, "a1"), rec(1, metrics.StatusFailed, "a1"))
	putPart(t, store, 1, 1, rec(2, metrics.StatusCompleted, "a1"))
	// Attempt 2 found 0-2 stored, recorded 3 as interrupted (no worker) and sent 4-5.
	putPart(t, store, 2, 0, rec(3, metrics.StatusInterrupted, "a2"), rec(4, metrics.StatusCompleted, "a2"))
	putPart(t, store, 2, 1, rec(5, metrics.StatusInterrupted, "a2 cut off"))
	if err := engine.Compact(ctx, store, "run", 0, 0, 2, &engine.ClientStats{Sent: 2}, nil); err != nil {
		t.Fatal(err)
	}
	// Attempt 1's final flush lands after the compaction: request 3 answered.
	putPart(t, store, 1, 2, rec(3, metrics.StatusCompleted, "a1 late"), rec(5, metrics.StatusInterrupted, "a1"))

	u, err := engine.ReadUnitOf(ctx, store, "run", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range u.Records {
		got = append(got, fmt.Sprintf("%d:%s:%s", r.Index, r.Status, r.Error))
	}
	want := []string{"0:completed:a1", "1:failed:a1", "2:completed:a1", "3:completed:a1 late", "4:completed:a2", "5:interrupted:a2 cut off"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records\n got %v\nwant %v", got, want)
	}
	if u.Duplicates != 2 {
		t.Errorf("duplicates %d, want 2 (index 3 and 5 twice)", u.Duplicates)
	}
	if u.Compaction == nil || u.Compaction.Attempt != 2 || len(u.Compaction.Parts) != 4 || u.Compaction.Client.Sent != 2 {
		t.Fatalf("compaction %+v, want attempt 2's over the 4 parts before it", u.Compaction)
	}

	// A compaction object without its marker (a crash between the two) is
	// ignored: the parts are read instead.
	if err := store.Put(ctx, results.CompactKey("run", 0, 0, 3), []byte("half-written")); err != nil {
		t.Fatal(err)
	}
	if u2, err := engine.ReadUnitOf(ctx, store, "run", 0, 0); err != nil || fmt.Sprint(u2.Records) != fmt.Sprint(u.Records) {
		t.Fatalf("with an unmarked compaction: %v, %v", u2, err)
	}
}
