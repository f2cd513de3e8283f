package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

// A recorder closed right after it starts (a resumed slice with nothing
// left to send) still stores what it was given and returns.
func TestRecorderClosedAtOnceStoresEverything(t *testing.T) {
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		rec := &engine.Recorder{Store: store, RunID: "run", Slice: i, Replica: 0, Attempt: 2}
		rec.Start()
		rec.Add(metrics.Record{Index: i, Status: metrics.StatusInterrupted})
		if err := rec.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if parts, n := rec.Stored(); parts != 1 || n != 1 {
			t.Fatalf("stored parts %d records %d, want 1 and 1", parts, n)
		}
		if ok, _ := store.Exists(context.Background(), results.PartKey("run", i, 0, 2, 0)); !ok {
			t.Fatalf("part 0 of attempt 2 of slice %d not stored", i)
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
	rec := &engine.Recorder{Store: store, RunID: "run", Attempt: 1, MaxRecords: 3, FlushEvery: time.Millisecond}
	rec.Start()
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
	if err := rec.Close(context.Background()); err != nil {
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

func s3Store(t *testing.T) (results.Store, *s3test.Faults) {
	t.Helper()
	_, env, faults := s3test.StartFaulty(t, "bench")
	store, err := results.FromEnv(t.Context(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return store, faults
}

// An S3 outage that answers nothing for longer than many part cadences
// loses no record: Add never waits, parts queue, and when the store
// answers again every one of them lands.
func TestRecorderKeepsPartsThroughAnS3Outage(t *testing.T) {
	store, faults := s3Store(t)
	rec := &engine.Recorder{Store: store, RunID: "run", Attempt: 1, FlushEvery: 20 * time.Millisecond, PutTimeout: 200 * time.Millisecond}
	rec.Start()
	faults.Down()
	start := time.Now()
	for i := range 500 {
		rec.Add(metrics.Record{Index: i, Status: metrics.StatusCompleted, Success: true})
		time.Sleep(time.Millisecond)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("500 Adds took %v during the outage: Add waits on the store", waited)
	}
	if _, n := rec.Stored(); n != 0 {
		t.Fatalf("%d records stored while the store answered nothing", n)
	}
	time.Sleep(time.Second) // several failed tries
	faults.Up()
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := results.ReadParts(t.Context(), store, "run", func(metrics.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 500 {
		t.Fatalf("%d of 500 records stored after the outage", n)
	}
	if faults.Stalled() == 0 {
		t.Fatal("the outage held no request: the test tested nothing")
	}
}

// When the store is still down at Close's deadline, the parts wait on local
// disk and the next attempt's RecoverSpilled stores them.
func TestRecorderSpillsWhatTheStoreNeverTookAndRecoversIt(t *testing.T) {
	store, faults := s3Store(t)
	spill := t.TempDir()
	rec := &engine.Recorder{Store: store, RunID: "run", Slice: 3, Replica: 1, Attempt: 1, MaxRecords: 10,
		PutTimeout: 100 * time.Millisecond, MemoryLimit: 1, SpillDir: spill}
	rec.Start()
	faults.Down()
	for i := range 95 {
		rec.Add(metrics.Record{Index: i, Status: metrics.StatusCompleted, Success: true})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := rec.Close(ctx); err == nil {
		t.Fatal("Close returned nil with the store down")
	}
	files, _ := filepath.Glob(filepath.Join(spill, "run", "slices", "00003", "001", "part-a001-*.jsonl.gz"))
	if len(files) != 10 {
		t.Fatalf("%d parts on disk, want 10", len(files))
	}
	faults.Up()
	n, err := engine.RecoverSpilled(t.Context(), store, spill, results.ReplicaPrefix("run", 3, 1))
	if err != nil || n != 11 {
		t.Fatalf("recovered %d objects, %v; want the 10 spilled parts and the write-ahead log", n, err)
	}
	u, err := engine.ReadUnitOf(t.Context(), store, "run", 3, 1)
	if err != nil || len(u.Records) != 95 {
		t.Fatalf("%d records readable after recovery, %v; want 95", len(u.Records), err)
	}
	if left, _ := filepath.Glob(filepath.Join(spill, "run", "slices", "00003", "001", "*")); len(left) != 0 {
		t.Fatalf("%d spilled files left after recovery", len(left))
	}
	if _, err := os.Stat(spill); err != nil {
		t.Fatal(err)
	}
}

// A process killed mid-slice (here: a recorder never closed, its log's last
// line cut in half) leaves a write-ahead log from which RecoverSpilled
// stores every complete record it had measured, parts stored or not.
func TestRecoverSpilledStoresTheLogOfAKilledRecorder(t *testing.T) {
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spill := t.TempDir()
	rec := &engine.Recorder{Store: store, RunID: "run", Slice: 7, Replica: 0, Attempt: 3, MaxRecords: 4, SpillDir: spill}
	rec.Start()
	// A killed process's recorder stops with it; this one would go on
	// writing into the temporary folders while they are removed.
	t.Cleanup(func() { _ = rec.Close(context.Background()) })
	for i := range 10 {
		rec.Add(metrics.Record{Index: i, Status: metrics.StatusCompleted, Success: true, TTFT: 0.01})
	}
	// "Kill": the process is gone; its log stays, with a torn last line.
	logs, _ := filepath.Glob(filepath.Join(spill, "run", "slices", "00007", "000", "wal-a003.jsonl"))
	if len(logs) != 1 {
		t.Fatalf("write-ahead logs: %v", logs)
	}
	f, err := os.OpenFile(logs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"request_id":"torn","index":10,"succ`)
	f.Close()
	if _, err := engine.RecoverSpilled(t.Context(), store, spill, ""); err != nil {
		t.Fatal(err)
	}
	u, err := engine.ReadUnitOf(t.Context(), store, "run", 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Records) != 10 || u.Records[9].Index != 9 || u.Records[9].TTFT != 0.01 {
		t.Fatalf("%d records recovered, want the 10 complete ones", len(u.Records))
	}
	if ok, _ := store.Exists(t.Context(), results.PartKey("run", 7, 0, 3, engine.WALPart)); !ok {
		t.Fatal("the log is not stored as the attempt's part WALPart")
	}
}
