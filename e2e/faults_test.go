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

// One time-compressed run through every fault a long stress test meets, on
// storage that answers in 30 ms: a load worker SIGKILLed, another stopped
// with SIGTERM, a worker cut off from Temporal (a blackhole longer than the
// heartbeat timeout) while it still reaches the servers and the store, a
// 60 s storage outage, and a stop. Two workers serve the run; one reaches
// Temporal through a proxy that can be blackholed. Nothing measured is lost.
func TestFaultsLoseNoMeasuredRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	temporal := startTemporal(t)
	_, s3env, faults := s3test.StartFaulty(t, "bench")
	faults.SetLatency(30 * time.Millisecond)
	var replicas config.List
	var logs []*answerLog
	for range 2 {
		url, l := startLoggedSim(t)
		replicas, logs = append(replicas, url), append(logs, l)
	}
	bin := buildWorker(t)
	cut := startProxy(t, temporal.addr())
	cutOff := &workerProc{t: t, bin: bin, env: workerEnv(t, cut.addr(), s3env)}
	other := &workerProc{t: t, bin: bin, env: workerEnv(t, temporal.addr(), s3env)}
	cutOff.start()
	other.start()
	t.Cleanup(cutOff.kill)
	t.Cleanup(other.kill)

	c, err := client.Dial(client.Options{HostPort: temporal.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rate := config.Rate(20)
	req := config.Request{ReplicasBaseURLs: replicas, Model: model, Backend: "openai-chat", DatasetName: "sonnet",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2, RequestRate: &rate, NumPrompts: 20 * 5 * 34, SliceSeconds: 5,
		// Continuing as new every 4 slices, the faults and the stop also
		// meet runs that inherited the slices in flight.
		ContinueAsNewEach: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-faults", TaskQueue: workflows.OrchestrationTaskQueue},
		workflows.WorkflowName, req)
	if err != nil {
		t.Fatal(err)
	}
	var kills []time.Time
	at := func(slice int, what string, fault func()) {
		waitSlice(ctx, t, c, run.GetID(), slice)
		time.Sleep(2500 * time.Millisecond) // mid-slice
		t.Logf("slice %d: %s", slice, what)
		fault()
	}
	var killedAt time.Time
	at(3, "SIGKILL a worker", func() {
		killedAt = time.Now()
		kills = append(kills, killedAt)
		other.kill()
		time.Sleep(time.Second)
		other.start()
	})
	at(7, "SIGTERM a worker", func() { other.terminate(); other.start() })
	at(10, "blackhole one worker's Temporal connection for 15 s", func() {
		cut.blackhole()
		time.Sleep(15 * time.Second)
		cut.restore()
	})
	at(16, "storage answers nothing for 60 s", func() {
		faults.Down()
		time.Sleep(60 * time.Second)
		faults.Up()
	})
	var stoppedAt time.Time
	at(31, "stop", func() {
		stoppedAt = time.Now()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.StopUpdate,
			Args: []any{"e2e stop"}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			t.Fatal(err)
		}
		var p workflows.Progress
		if err := h.Get(ctx, &p); err != nil {
			t.Fatal(err)
		}
	})
	var out workflows.Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if !out.Partial || out.Reason != "e2e stop" {
		t.Errorf("outcome partial %v reason %q, want a stopped run", out.Partial, out.Reason)
	}
	t.Logf("result:\n%s", out.Result.Table)
	a := checkNothingLost(ctx, t, storeFor(t, s3env), run.GetID(), logs, kills)
	if a.Interrupted == 0 {
		t.Errorf("the faults interrupted nothing: %+v", a)
	}
	var gap time.Duration
	for _, l := range logs {
		gap = max(gap, l.longestGap(killedAt.Add(-2*time.Second), killedAt.Add(30*time.Second)))
	}
	t.Logf("failover gap after SIGKILL (longest pause in requests received by a replica): %.1f s; S3 requests %d, %d held by the outage",
		gap.Seconds(), faults.Requests(), faults.Stalled())
	var lastSend time.Time
	for _, l := range logs {
		lastSend = latest(lastSend, l.lastReceived())
	}
	t.Logf("last request received %.2f s after the stop", lastSend.Sub(stoppedAt).Seconds())
	t.Logf("LoadSlice attempts by worker: %v; requests recorded as overdue (a slice that started late): %d",
		sliceWorkers(ctx, t, c, run.GetID()), overdueRecords(ctx, t, storeFor(t, s3env), run.GetID()))
}
