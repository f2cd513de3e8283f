package e2e

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// Scale-out through Temporal: one orchestration worker and three load
// workers serve a run against eight simulated replicas; the slices spread
// over the load workers, one of which is SIGKILLed for good mid-run. The
// two left finish the run, and every request is accounted for once.
func TestScaleOutThreeLoadWorkersEightReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	temporal := startTemporal(t)
	_, s3env := s3test.Start(t, "bench")
	var replicas config.List
	var logs []*answerLog
	for range 8 {
		url, l := startLoggedSim(t)
		replicas, logs = append(replicas, url), append(logs, l)
	}
	bin := buildWorker(t)
	orch := &workerProc{t: t, bin: bin, env: workerEnv(t, temporal.addr(), s3env), args: []string{"--task-queues", "orchestration"}}
	orch.start()
	t.Cleanup(orch.kill)
	var load []*workerProc
	for range 3 {
		w := &workerProc{t: t, bin: bin, env: workerEnv(t, temporal.addr(), s3env), args: []string{"--task-queues", "load"}}
		w.start()
		t.Cleanup(w.kill)
		load = append(load, w)
	}
	c, err := client.Dial(client.Options{HostPort: temporal.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rate := config.Rate(8)
	req := config.Request{ReplicasBaseURLs: replicas, Model: model, Backend: "openai-chat", DatasetName: "sonnet",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2, RequestRate: &rate, NumPrompts: 8 * 5 * 10, SliceSeconds: 5,
		ContinueAsNewEach: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-scale-out", TaskQueue: workflows.OrchestrationTaskQueue},
		workflows.WorkflowName, req)
	if err != nil {
		t.Fatal(err)
	}
	waitSlice(ctx, t, c, run.GetID(), 4)
	time.Sleep(2500 * time.Millisecond)
	killedAt := time.Now()
	load[1].kill()
	t.Log("SIGKILLed load worker 2 of 3 during slice 4")
	var out workflows.Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	a := checkNothingLost(ctx, t, storeFor(t, s3env), run.GetID(), logs, []time.Time{killedAt})
	if a.Scheduled != 8*400 {
		t.Errorf("scheduled %d, want %d", a.Scheduled, 8*400)
	}
	// Continue-as-new every 3 slices hands the slices in flight on: no
	// slice starts late, so none records an arrival as overdue.
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if info := desc.GetWorkflowExecutionInfo(); info.GetFirstRunId() == info.GetExecution().GetRunId() {
		t.Error("the run never continued as new")
	}
	if n := overdueRecords(ctx, t, storeFor(t, s3env), run.GetID()); n != 0 {
		t.Errorf("%d requests recorded as overdue: a slice started late", n)
	}
	perWorker := sliceWorkers(ctx, t, c, run.GetID())
	t.Logf("LoadSlice attempts by load worker: %v", perWorker)
	if len(perWorker) != 3 {
		t.Errorf("slices ran on %d load workers, want all 3", len(perWorker))
	}
}
