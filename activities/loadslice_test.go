package activities_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

const model = "meta-llama/Llama-3.1-8B-Instruct"

type fixture struct {
	acts  *activities.Activities
	store *results.LocalStore
	url   string
	sent  *atomic.Int64
	req   config.Request
	env   *testsuite.TestActivityEnvironment
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/completions" {
			sent.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rate := config.Rate(40)
	req := config.Request{BaseURL: srv.URL, Model: model, Backend: "openai", DatasetName: "sonnet", NumPrompts: 80,
		RequestRate: &rate, SliceSeconds: 1, SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 2}.Defaults()
	acts := &activities.Activities{Store: store, Log: zap.NewNop(), Deployers: map[string]activities.Deployer{"existing": activities.Existing{}}}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	// Prepare builds the worker's plan, as it does before a run's first slice.
	if _, err := env.ExecuteActivity(acts.Prepare, activities.PrepareInput{RunID: "run-1", Request: req, Execution: "e1"}); err != nil {
		t.Fatal(err)
	}
	return &fixture{acts: acts, store: store, url: srv.URL, sent: &sent, req: req, env: env}
}

func (f *fixture) sliceSize(t *testing.T, k int) int {
	plan, err := engine.NewPlan(t.Context(), f.req, f.url)
	if err != nil {
		t.Fatal(err)
	}
	return len(plan.SliceArrivals(k))
}

func (f *fixture) run(t *testing.T, k int, t0 time.Time) (activities.SliceResult, error) {
	in := activities.SliceInput{RunID: "run-1", Request: f.req, Model: model, Slice: k, NumSlices: 2, Replica: 0, Endpoint: f.url, T0: t0}
	v, err := f.env.ExecuteActivity(f.acts.LoadSlice, in)
	if err != nil {
		return activities.SliceResult{}, err
	}
	var res activities.SliceResult
	return res, v.Get(&res)
}

func TestLoadSliceSendsItsShareAndStoresIt(t *testing.T) {
	f := newFixture(t)
	res, err := f.run(t, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := f.sliceSize(t, 0)
	if got := res.Summary.Statuses.Completed; got != n || int(f.sent.Load()) != n {
		t.Fatalf("completed %d, sent %d, want the slice's %d", got, f.sent.Load(), n)
	}
	count := 0
	if err := results.ReadParts(t.Context(), f.store, "run-1", func(metrics.Record) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Errorf("%d records stored, want %d", count, n)
	}
	// A worker without Prometheus still says so for the slice.
	b, err := f.store.Get(t.Context(), results.SliceGPUKey("run-1", 0))
	if err != nil || string(b) != `{"measured":false,"note":"`+engine.GPUNotConfigured+`"}` {
		t.Errorf("gpu.json %s, %v", b, err)
	}
}

// A retry after a crash resends nothing stored and records as interrupted
// what fell due while no worker ran: each request counted exactly once.
func TestLoadSliceResumesFromStoredParts(t *testing.T) {
	f := newFixture(t)
	n := f.sliceSize(t, 0)
	var stored []metrics.Record
	for i := range n / 2 {
		stored = append(stored, metrics.Record{RequestID: "x", Index: i, Success: true, Status: metrics.StatusCompleted,
			OutputTokens: 2, TTFT: 0.01, Latency: 0.02, ITL: []float64{0.01}})
	}
	body, err := results.EncodePart(stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Put(t.Context(), results.PartKey("run-1", 0, 0, 0, 0), body); err != nil {
		t.Fatal(err)
	}
	f.env.SetHeartbeatDetails(activities.SliceProgress{Attempt: 0, PartsFlushed: 1, RecordsFlushed: n / 2}) // an earlier writer
	res, err := f.run(t, 0, time.Now().Add(-3*time.Second))                                                 // the whole slice is already due
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary.Statuses
	if s.Completed != n/2 || s.Interrupted != n-n/2 || f.sent.Load() != 0 || !res.Resumed {
		t.Fatalf("statuses %+v sent %d resumed %v; want %d stored, %d interrupted, none sent", s, f.sent.Load(), res.Resumed, n/2, n-n/2)
	}
	seen := map[int]int{}
	if err := results.ReadParts(t.Context(), f.store, "run-1", func(r metrics.Record) error { seen[r.Index]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("request %d stored %d times", i, seen[i])
		}
	}
}

func TestLoadSliceRejectsAHeartbeatAheadOfTheStore(t *testing.T) {
	f := newFixture(t)
	f.env.SetHeartbeatDetails(activities.SliceProgress{Attempt: 1, PartsFlushed: 3})
	if _, err := f.run(t, 0, time.Now()); err == nil {
		t.Fatal("a heartbeat claiming parts the store lacks must fail the attempt")
	}
}

// A task delivered after Temporal gave up on its attempt (the answer to a
// poll held by a cut-off network, then released) must neither send nor
// store: the retry owns the slice. Its first heartbeat says so.
func TestLoadSliceOfAnAttemptTemporalNoLongerKnowsSendsNothing(t *testing.T) {
	f := newFixture(t)
	var beats atomic.Int64
	f.acts.Heartbeat = func(context.Context, any) error {
		beats.Add(1)
		return serviceerror.NewNotFound("invalid activityID or activity already timed out")
	}
	if _, err := f.run(t, 0, time.Now()); err == nil {
		t.Fatal("an attempt Temporal no longer knows must fail")
	}
	if beats.Load() == 0 || f.sent.Load() != 0 {
		t.Fatalf("heartbeats %d, requests sent %d; want a heartbeat and nothing sent", beats.Load(), f.sent.Load())
	}
	count := 0
	if err := results.ReadParts(t.Context(), f.store, "run-1", func(metrics.Record) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != 0 {
		t.Errorf("%d records stored by a stale attempt, want none", count)
	}
}
