package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/vibench/vllm-inference-benchmark/activities"
)

// restarts plays a deployment whose replica 1 restarts before slice 3.
type restarts struct {
	mu       sync.Mutex
	resolves int
	waits    []int
	waitErr  error
}

func (r *restarts) ResolveEndpoints(_ context.Context, in activities.TeardownInput) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resolves++
	eps := append([]string(nil), in.Deployment.Endpoints...)
	if r.resolves == 3 { // slice 3: replica 1's pod is being recreated
		eps[1] = ""
	}
	return eps, nil
}

func (r *restarts) WaitReplica(_ context.Context, in activities.WaitReplicaInput) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, in.Replica)
	if r.waitErr != nil {
		return "", r.waitErr
	}
	return "http://replica-1-new:8000", nil
}

func runWithRestart(t *testing.T, r *restarts) (*fakeActivities, []*segment, *Outcome, error) {
	f := newFake()
	f.kind = "kubernetes"
	var mu sync.Mutex
	var gaps []activities.SliceInput
	f.sliceErr = func(in activities.SliceInput) error {
		if in.Gap != "" || in.Endpoint == "http://replica-1-new:8000" {
			mu.Lock()
			gaps = append(gaps, in)
			mu.Unlock()
		}
		return nil
	}
	req := stressRequest()
	segs, out, err := runChain(t, f, req, func(_ int, s *segment) {
		s.env.RegisterActivityWithOptions(r.ResolveEndpoints, activity.RegisterOptions{Name: activities.ResolveEndpointsName})
		s.env.RegisterActivityWithOptions(r.WaitReplica, activity.RegisterOptions{Name: activities.WaitReplicaName})
	})
	if err == nil && len(gaps) == 0 {
		t.Error("no slice ran on the restarted replica")
	}
	for _, in := range gaps {
		if in.Slice == 2 && (in.Gap == "" || in.Replica != 1) {
			t.Errorf("slice 3 on the restarted replica must record the gap: %+v", in)
		}
		if in.Slice > 2 && in.Gap != "" {
			t.Errorf("slice %d has a gap though the replica was back", in.Slice+1)
		}
	}
	return f, segs, out, err
}

// Before each slice a deployment's endpoints are re-resolved: a replica that
// restarted is waited for, its slice runs late with the gap recorded, and
// later slices use its new address.
func TestRestartedReplicaIsWaitedForAndFoundAgain(t *testing.T) {
	r := &restarts{}
	f, _, out, err := runWithRestart(t, r)
	if err != nil || out.Partial {
		t.Fatalf("run failed: %v %+v", err, out)
	}
	if len(r.waits) != 1 || r.waits[0] != 1 {
		t.Errorf("waited for replicas %v, want [1]", r.waits)
	}
	if f.slices[sliceKey{2, 1}] != 1 || f.slices[sliceKey{138, 1}] != 1 {
		t.Errorf("replica 1 missed slices: %v", f.slices)
	}
}

// A replica gone for longer than the limit fails the run with a clear
// error, after aggregating what ran.
func TestReplicaGoneTooLongFailsAfterAggregating(t *testing.T) {
	r := &restarts{waitErr: temporal.NewNonRetryableApplicationError(
		"replica 1 gone for longer than replica_gone_limit_seconds=600", activities.ErrNotReady, nil)}
	f, _, _, err := runWithRestart(t, r)
	if err == nil || !strings.Contains(err.Error(), "gone for longer") || !strings.Contains(err.Error(), "slice 3 replica 1") {
		t.Fatalf("want the run to fail naming the gone replica, got %v", err)
	}
	if len(f.aggregates) != 1 || !f.aggregates[0].Partial {
		t.Errorf("aggregates %+v: what ran must be aggregated", f.aggregates)
	}
	if len(f.teardowns) != 1 {
		t.Errorf("teardowns %d", len(f.teardowns))
	}
}
