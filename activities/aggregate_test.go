package activities_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// A retried Aggregate goes on from the checkpoint its heartbeat names: with
// slice 1's objects made unreadable after the checkpoint that holds it, the
// retry still writes the result the first attempt would have.
func TestAggregateRetryGoesOnFromItsCheckpoint(t *testing.T) {
	f := newFixture(t)
	t0 := time.Now().Add(200 * time.Millisecond)
	for k := range 2 {
		if _, err := f.run(t, k, t0); err != nil {
			t.Fatalf("slice %d: %v", k, err)
		}
	}
	in := activities.AggregateInput{RunID: "run-1", Request: f.req, Model: model, Execution: "e1", NumSlices: 2,
		StartedAt: t0.Add(-time.Minute), Replicas: 1}
	aggregate := func(hb *activities.AggregateProgress) (string, error) {
		t.Helper()
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(f.acts)
		if hb != nil {
			env.SetHeartbeatDetails(*hb)
		}
		if _, err := env.ExecuteActivity(f.acts.Aggregate, in); err != nil {
			return "", err
		}
		b, err := f.store.Get(t.Context(), results.ResultKey("run-1"))
		return string(b), err
	}
	want, err := aggregate(nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.NewPlan(t.Context(), f.req, f.url)
	if err != nil {
		t.Fatal(err)
	}
	var state []byte
	if _, err := engine.Finalize(t.Context(), f.store, "run-1", engine.FinalizeOptions{Tokenizer: plan.Tokenizer, Checkpoint: func(b []byte, pass, read int) {
		if pass == 2 && read == 1 {
			state = b // pass 1 and slice 1 of pass 2 are in it
		}
	}}); err != nil || state == nil {
		t.Fatalf("no checkpoint after slice 1 of pass 2 (%v)", err)
	}
	key := results.AggregateCheckpointKey("run-1")
	if err := f.store.Put(t.Context(), key, state); err != nil {
		t.Fatal(err)
	}
	keys, err := f.store.List(t.Context(), results.ReplicaPrefix("run-1", 0, 0))
	if err != nil || len(keys) == 0 {
		t.Fatalf("slice 1 stored %v (%v)", keys, err)
	}
	for _, k := range keys {
		if err := f.store.Put(t.Context(), k, []byte("overwritten")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := aggregate(nil); err == nil {
		t.Fatal("aggregating from the first slice read slice 1's overwritten objects without an error")
	}
	got, err := aggregate(&activities.AggregateProgress{Pass: 2, SlicesRead: 1, Slices: 2, Checkpoint: key})
	if err != nil {
		t.Fatalf("the retry did not go on from its checkpoint: %v", err)
	}
	if got != want {
		t.Errorf("the resumed result differs:\n got %s\nwant %s", got, want)
	}
}
