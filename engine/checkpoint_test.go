package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// readLog is a store that notes the keys read.
type readLog struct {
	results.Store
	mu   sync.Mutex
	keys []string
}

func (s *readLog) Get(ctx context.Context, key string) ([]byte, error) {
	s.note(key)
	return s.Store.Get(ctx, key)
}

func (s *readLog) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.note(key)
	return s.Store.Open(ctx, key)
}

func (s *readLog) note(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, key)
}

// variedRun is a local store holding run "run": 6 slices of 2 replicas,
// with successes, failures of two kinds, interrupted requests, GPU figures
// on some slices (pods on some), and a slice stored twice by two attempts.
func variedRun(t *testing.T) *results.LocalStore {
	t.Helper()
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const perUnit = 12
	for slice := range 6 {
		for replica := range 2 {
			var recs []metrics.Record
			for i := range perUnit {
				idx := slice*perUnit + i
				start := float64(idx) * 0.5
				r := metrics.Record{Index: idx, Replica: replica, Status: metrics.StatusCompleted, Success: true,
					StartTime: start, ScheduledAt: start, Lateness: 0.001 * float64(i%3), PromptLen: 100 + i,
					TTFT: 0.05 + 0.01*float64((idx*7+replica)%5), Latency: 0.4 + 0.02*float64(i),
					OutputTokens: 4 + i%3, ITL: []float64{0.02, 0.03 + 0.001*float64(i), 0.025}}
				switch {
				case i == 3:
					r = metrics.Record{Index: idx, Replica: replica, Status: metrics.StatusFailed, Error: "HTTP 500 Internal Server Error", StartTime: start}
				case i == 5 && replica == 1 && slice >= 3:
					r = metrics.Record{Index: idx, Replica: replica, Status: metrics.StatusFailed, StartTime: start,
						Error: `Post "http://10.0.0.7:8000/v1/completions": dial tcp 10.0.0.7:8000: connect: connection refused`}
				case i == 11:
					r = metrics.Record{Index: idx, Replica: replica, Status: metrics.StatusInterrupted, Error: "interrupted: stopped", ScheduledAt: start}
				}
				recs = append(recs, r)
			}
			attempts := 1
			if slice == 2 {
				attempts = 2 // a retry stored some of them again
			}
			for a := 1; a <= attempts; a++ {
				body, err := results.EncodePart(recs[:perUnit/a])
				if err != nil {
					t.Fatal(err)
				}
				if err := store.Put(t.Context(), results.PartKey("run", slice, replica, a, 0), body); err != nil {
					t.Fatal(err)
				}
			}
		}
		if slice%2 == 0 {
			g := measuredSlice(400 + 50*float64(slice))
			if slice == 4 {
				g.Replicas = nil
			}
			b, _ := json.Marshal(g)
			if err := store.Put(t.Context(), results.SliceGPUKey("run", slice), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := engine.WriteManifest(t.Context(), store, engine.Manifest{RunID: "run", Model: "m", Replicas: 2,
		SlicesStarted: 6, Scheduled: 6 * 2 * perUnit, StartedAt: time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	return store
}

// An aggregation cut off after any slice and resumed from its checkpoint
// writes the same files as one that read the run straight through, and
// reads no object of the slices the checkpoint holds.
func TestAggregationResumesFromACheckpoint(t *testing.T) {
	local := variedRun(t)
	rate := config.Rate(4)
	req := config.Request{RequestRate: &rate, SliceSeconds: 3, PercentileMetrics: config.List{"ttft", "tpot", "itl", "e2el"},
		MetricPercentiles: config.List{"50", "90", "99"}, Goodput: config.Pairs{"ttft:80", "e2el:600"}}.Defaults()
	finalize := func(store results.Store, o engine.FinalizeOptions) *engine.Final {
		t.Helper()
		o.Request, o.NoTokenizer = &req, true
		f, err := engine.Finalize(t.Context(), store, "run", o)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	straight := finalize(local, engine.FinalizeOptions{})
	type saved struct {
		state      []byte
		pass, read int
	}
	var checkpoints []saved
	passes := 0
	withCheckpoints := finalize(local, engine.FinalizeOptions{Checkpoint: func(b []byte, pass, read int) {
		checkpoints = append(checkpoints, saved{b, pass, read})
	}, Progress: func(pass, _, _ int) { passes = max(passes, pass) }})
	same := func(what string, got *engine.Final) {
		t.Helper()
		for _, f := range []struct{ name, want, got string }{
			{"result.json", straight.ResultJSON, got.ResultJSON},
			{"result.txt", straight.Table, got.Table},
			{"timeseries.json", string(straight.TimeseriesJSON), string(got.TimeseriesJSON)},
			{"timeseries.csv", straight.TimeseriesCSV, got.TimeseriesCSV},
		} {
			if f.got != f.want {
				t.Errorf("%s: %s differs from the straight aggregation:\n got %s\nwant %s", what, f.name, f.got, f.want)
			}
		}
	}
	same("checkpointing", withCheckpoints)
	if passes != 2 || len(checkpoints) != 10 {
		t.Fatalf("%d passes, %d checkpoints; want 2 passes, a checkpoint after each of slices 1-5 in each", passes, len(checkpoints))
	}
	if !strings.Contains(straight.ResultJSON, `"failed":`) || straight.Accounting.Interrupted != 12 || straight.Accounting.Duplicates == 0 {
		t.Fatalf("the stored run lacks a case to carry over: %+v", straight.Accounting)
	}
	// A unit's objects are read once a pass: a resumed aggregation reads
	// those of a slice the checkpoint holds only in the passes after it.
	for _, cp := range checkpoints {
		logged := &readLog{Store: local}
		what := fmt.Sprintf("resumed after %d slices of pass %d", cp.read, cp.pass)
		same(what, finalize(logged, engine.FinalizeOptions{Resume: cp.state}))
		reads := map[results.ObjectRef]int{}
		for _, key := range logged.keys {
			if ref, err := results.ParseObjectKey(key); err == nil {
				reads[ref]++
			}
		}
		for ref, n := range reads {
			want := passes - cp.pass
			if ref.Slice >= cp.read {
				want++
			}
			if n != want {
				t.Errorf("%s: it read %s %d times, want %d", what, ref.Key(), n, want)
			}
		}
	}
	if got := finalize(local, engine.FinalizeOptions{Resume: []byte("not a checkpoint")}); got.ResultJSON != straight.ResultJSON {
		t.Error("an unreadable checkpoint changed the result instead of being set aside")
	}
}

// A record stored while an aggregation runs (a zombie attempt's late part)
// is read by none of its passes, nor by a retry resumed from its
// checkpoint: every pass reads the same records.
func TestAggregationReadsTheObjectsListedAtItsStart(t *testing.T) {
	local := variedRun(t)
	req := config.Request{SliceSeconds: 3, PercentileMetrics: config.List{"ttft", "itl"}, MetricPercentiles: config.List{"50", "99"}}.Defaults()
	finalize := func(o engine.FinalizeOptions) *engine.Final {
		t.Helper()
		o.Request, o.NoTokenizer = &req, true
		f, err := engine.Finalize(t.Context(), local, "run", o)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	before := finalize(engine.FinalizeOptions{})
	var early []byte
	storeLate := func() {
		late := metrics.Record{Index: 5*12 + 11, Replica: 0, Status: metrics.StatusCompleted, Success: true, StartTime: 35.5,
			TTFT: 0.9, Latency: 3, OutputTokens: 4, ITL: []float64{0.5, 0.7, 0.9}} // was stored interrupted
		body, err := results.EncodePart([]metrics.Record{late})
		if err != nil {
			t.Fatal(err)
		}
		if err := local.Put(t.Context(), results.PartKey("run", 5, 0, 7, 0), body); err != nil {
			t.Fatal(err)
		}
	}
	during := finalize(engine.FinalizeOptions{
		Checkpoint: func(b []byte, pass, read int) {
			if pass == 1 && read == 2 {
				early = b
			}
		},
		Progress: func(pass, read, slices int) {
			if pass == 1 && read == slices {
				storeLate() // between pass 1 and pass 2
			}
		}})
	if during.ResultJSON != before.ResultJSON {
		t.Errorf("a part stored between the passes changed the result:\n got %s\nwant %s", during.ResultJSON, before.ResultJSON)
	}
	if resumed := finalize(engine.FinalizeOptions{Resume: early}); resumed.ResultJSON != before.ResultJSON {
		t.Errorf("resumed from a checkpoint taken before the late part, the result differs:\n got %s\nwant %s", resumed.ResultJSON, before.ResultJSON)
	}
	if after := finalize(engine.FinalizeOptions{}); after.Accounting.Completed != before.Accounting.Completed+1 {
		t.Errorf("an aggregation started after the late part counted %d completed, want %d", after.Accounting.Completed, before.Accounting.Completed+1)
	}
}

// A retry resumed in pass 2 whose stored records changed since its
// checkpoint (an object rewritten) sees the passes disagree and reads the
// run again from the start, instead of writing wrong figures.
func TestAResumedAggregationOverChangedRecordsStartsOver(t *testing.T) {
	local := variedRun(t)
	req := config.Request{SliceSeconds: 3}.Defaults()
	opts := engine.FinalizeOptions{Request: &req, NoTokenizer: true}
	var inPass2 []byte
	opts.Checkpoint = func(b []byte, pass, read int) {
		if pass == 2 && read == 2 {
			inPass2 = b
		}
	}
	if _, err := engine.Finalize(t.Context(), local, "run", opts); err != nil || inPass2 == nil {
		t.Fatalf("no checkpoint in pass 2 (%v)", err)
	}
	key := results.PartKey("run", 4, 0, 1, 0)
	var recs []metrics.Record
	body, err := local.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := results.DecodePart(bytes.NewReader(body), func(r metrics.Record) error {
		if len(r.ITL) > 0 {
			r.ITL = r.ITL[1:]
		}
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if body, err = results.EncodePart(recs); err != nil {
		t.Fatal(err)
	}
	if err := local.Put(t.Context(), key, body); err != nil {
		t.Fatal(err)
	}
	opts.Checkpoint = nil
	fresh, err := engine.Finalize(t.Context(), local, "run", opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Resume = inPass2
	resumed, err := engine.Finalize(t.Context(), local, "run", opts)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResultJSON != fresh.ResultJSON {
		t.Errorf("resumed over rewritten records:\n got %s\nwant %s", resumed.ResultJSON, fresh.ResultJSON)
	}
}
