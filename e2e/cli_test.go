package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// `temporal workflow start --input '<the old /start-load payload>'` runs a
// stress test; a bad payload fails the run at once, naming the field, with
// nothing deployed.
func TestTemporalCLIStartsTheOldPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := startTemporal(t)
	sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 10 * time.Millisecond, ITL: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(simSrv.URL, "http://"))
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+srv.addr(), "BENCHMARK_RESULTS_DIRECTORY="+t.TempDir())
	w := &workerProc{t: t, bin: buildWorker(t), env: env}
	w.start()
	t.Cleanup(w.kill)

	payload := fmt.Sprintf(`{"host": %q, "port": %s, "num_prompts": 20, "request_rate": 20,
	 "model": %q, "backend": "openai-chat", "endpoint": "/v1/chat/completions", "dataset_path": "app/sonnet.txt",
	 "dataset_name": "sonnet", "sonnet_input_len": 512, "sonnet_prefix_len": 128, "sonnet_output_len": 2}`, host, port, model)
	bad := `{"host": "localhost", "port": 8000, "num_prompts": 10, "request_rate": -1, "backend": "tgi"}`
	for id, in := range map[string]string{"cli-good": payload, "cli-bad": bad} {
		out, err := exec.Command(srv.bin, "workflow", "start", "--address", srv.addr(), "--type", workflows.WorkflowName,
			"--task-queue", workflows.OrchestrationTaskQueue, "--workflow-id", id, "--input", in).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal workflow start: %v\n%s", err, out)
		}
	}
	c, err := client.Dial(client.Options{HostPort: srv.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out workflows.Outcome
	if err := c.GetWorkflow(ctx, "cli-good", "").Get(ctx, &out); err != nil {
		t.Fatalf("the old payload's run failed: %v", err)
	}
	if out.Result.Completed != 20 {
		t.Errorf("completed %d of 20", out.Result.Completed)
	}
	err = c.GetWorkflow(ctx, "cli-bad", "").Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "request_rate") || !strings.Contains(err.Error(), "backend") {
		t.Fatalf("a bad payload must fail naming request_rate and backend, got %v", err)
	}
	hist := c.GetWorkflowHistory(ctx, "cli-bad", "", false, 0)
	for hist.HasNext() {
		e, err := hist.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetActivityTaskScheduledEventAttributes() != nil {
			t.Errorf("a bad payload scheduled activity %s", e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName())
		}
	}
}
