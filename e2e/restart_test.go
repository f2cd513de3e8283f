package e2e

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// The Temporal server restarts (same database file) in the middle of a run;
// the worker reconnects and the run completes with every request counted.
func TestStressRunSurvivesTemporalRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := startTemporal(t)
	_, s3env := s3test.Start(t, "bench")
	sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 20 * time.Millisecond, ITL: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+srv.addr(), "BENCHMARK_RESULTS_BUCKET=bench", "BENCHMARK_RESULTS_DIRECTORY=e2e")
	for k, v := range s3env {
		env = append(env, k+"="+v)
	}
	w := &workerProc{t: t, bin: buildWorker(t), env: env}
	w.start()
	t.Cleanup(w.kill)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := client.Dial(client.Options{HostPort: srv.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rate := config.Rate(20)
	req := config.Request{BaseURL: simSrv.URL, Model: model, Backend: "openai", DatasetName: "sonnet",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2, RequestRate: &rate, NumPrompts: 400, SliceSeconds: 5}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-restart", TaskQueue: workflows.OrchestrationTaskQueue},
		workflows.WorkflowName, req)
	if err != nil {
		t.Fatal(err)
	}
	waitSlice(ctx, t, c, run.GetID(), 2)
	srv.stop()
	t.Log("Temporal server stopped")
	time.Sleep(3 * time.Second)
	srv.start()
	t.Log("Temporal server restarted")
	var out workflows.Outcome
	if err := c.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &out); err != nil {
		t.Fatalf("run failed after the restart: %v", err)
	}
	if got := out.Result.Completed + out.Result.Failed + out.Result.Interrupted; got != 400 {
		t.Errorf("completed %d + failed %d + interrupted %d = %d, want 400", out.Result.Completed, out.Result.Failed, out.Result.Interrupted, got)
	}
	if out.Partial {
		t.Errorf("run ended early: %s", out.Reason)
	}
}
