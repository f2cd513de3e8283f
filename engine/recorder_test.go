package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

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

// A writer slower than the records never deadlocks the recorder: many
// goroutines adding at once, tiny parts, a ticker cutting too.
func TestRecorderUnderPressure(t *testing.T) {
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := &engine.Recorder{Store: store, RunID: "run", MaxRecords: 3, FlushEvery: time.Millisecond}
	rec.Start(context.Background())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				rec.Add(metrics.Record{Index: g*1000 + i})
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Add blocked for good")
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := results.ReadParts(context.Background(), store, "run", func(metrics.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, stored := rec.Stored(); n != 2000 || stored != 2000 {
		t.Errorf("%d records read back, %d counted as stored, want 2000", n, stored)
	}
}
