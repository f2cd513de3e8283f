package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// A replica's server dies after the run's first slices: the operator sees
// it in the Web UI's current details while the run goes on, the run list
// marks the run (VibHealth), and result.json and the report open with the
// warning, with failure counts by reason equal to the stored records'.
func TestDeadReplicaIsVisibleEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	temporal := startTemporal(t)
	_, s3env := s3test.Start(t, "bench")
	alive, _ := startLoggedSim(t)
	sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 20 * time.Millisecond, ITL: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dying := httptest.NewServer(sim.Handler())
	defer dying.Close()
	bin := buildWorker(t)
	w := &workerProc{t: t, bin: bin, env: workerEnv(t, temporal.addr(), s3env)}
	w.start()
	t.Cleanup(w.kill)
	c, err := client.Dial(client.Options{HostPort: temporal.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rate := config.Rate(10)
	req := config.Request{ReplicasBaseURLs: config.List{alive, dying.URL}, Model: model, Backend: "openai-chat", DatasetName: "sonnet",
		SonnetInputLen: 256, SonnetPrefixLen: 64, SonnetOutputLen: 2, RequestRate: &rate, NumPrompts: 10 * 4 * 7, SliceSeconds: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-dead-replica", TaskQueue: workflows.OrchestrationTaskQueue},
		workflows.WorkflowName, req)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(ctx, t, c, run.GetID(), 1)
	dying.CloseClientConnections()
	dying.Listener.Close() // connection refused from now on
	waitDone(ctx, t, c, run.GetID(), 5)

	v, err := c.QueryWorkflow(ctx, run.GetID(), "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var meta sdkpb.WorkflowMetadata
	if err := v.Get(&meta); err != nil {
		t.Fatal(err)
	}
	details := meta.GetCurrentDetails()
	if !strings.Contains(details, "**WARNING**: replica 1 ("+dying.URL+") unreachable") || !strings.Contains(details, "connection refused") {
		t.Errorf("current details mid-run do not warn of the dead replica:\n%s", details)
	}
	if health := searchAttribute(ctx, t, c, run.GetID(), workflows.HealthAttr.GetName()); health != workflows.HealthUnreachable {
		t.Errorf("VibHealth mid-run %q, want %q", health, workflows.HealthUnreachable)
	}

	var out workflows.Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	store := storeFor(t, s3env)
	body, err := store.Get(ctx, results.ResultKey(run.GetID()))
	if err != nil {
		t.Fatal(err)
	}
	var result struct {
		Failures engine.Failures `json:"failures"`
	}
	if err := json.Unmarshal(body, &result); err != nil {
		t.Fatal(err)
	}
	f := result.Failures
	if len(f.Warnings) != 1 || !strings.HasPrefix(f.Warnings[0], "replica 1 was unreachable in ") || len(f.Replicas) != 2 {
		t.Fatalf("result.json failures %+v", f)
	}
	stored := map[int]map[string]int{0: {}, 1: {}}
	if err := engine.ReadRecords(ctx, store, run.GetID(), func(r metrics.Record) error {
		if r.Status == metrics.StatusFailed {
			stored[r.Replica][metrics.FailureReason(r.Error)]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, rep := range f.Replicas {
		counted := map[string]int{}
		for _, rc := range rep.Reasons {
			counted[rc.Reason] = rc.Count
		}
		if !maps.Equal(counted, stored[rep.Replica]) {
			t.Errorf("replica %d: result.json counts %v failures by reason, the store holds %v", rep.Replica, counted, stored[rep.Replica])
		}
	}
	if stored[1]["connection refused"] == 0 || len(stored[0]) != 0 {
		t.Errorf("failures by replica and reason %v, want replica 1's refused and none on replica 0", stored)
	}
	report, err := store.Get(ctx, results.ReportKey(run.GetID()))
	if err != nil {
		t.Fatal(err)
	}
	if page := string(report); !strings.Contains(page, `<p class="warning">replica 1 was unreachable in `) {
		t.Error("the report does not open with the dead replica")
	}
	if health := searchAttribute(ctx, t, c, run.GetID(), workflows.HealthAttr.GetName()); health != workflows.HealthUnreachable {
		t.Errorf("VibHealth at the end %q, want %q", health, workflows.HealthUnreachable)
	}
	t.Logf("replica 1 failures by reason %v; current details:\n%s", stored[1], details)
}

// waitDone waits until n slices are done.
func waitDone(ctx context.Context, t *testing.T, c client.Client, id string, n int) {
	t.Helper()
	for ctx.Err() == nil {
		if v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery); err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil && p.SlicesDone >= n {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%d slices never done", n)
}

func searchAttribute(ctx context.Context, t *testing.T, c client.Client, id, name string) string {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
