package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/vibench/vllm-inference-benchmark/internal/badinput"
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

// Every bad input through `temporal workflow start --input`: the CLI
// refuses what is not JSON, and a workflow given the rest fails in its
// first workflow task, non-retryable, naming the field, within 2 s, with
// no activity scheduled and nothing sent to the server. Mistakes only the
// servers show (down, another model) are found by `starter start`'s
// preflight; a workflow started directly meets them in its first activity.
func TestTemporalCLIRefusesBadInputAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := startTemporal(t)
	sim, err := vllmsim.New(vllmsim.Config{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	var load atomic.Int64
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			load.Add(1)
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer simSrv.Close()
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+srv.addr(), "BENCHMARK_RESULTS_DIRECTORY="+t.TempDir())
	w := &workerProc{t: t, bin: buildWorker(t), env: env}
	w.start()
	t.Cleanup(w.kill)
	c, err := client.Dial(client.Options{HostPort: srv.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cases := []badinput.Case{
		{Name: "empty input", JSON: "", Field: "request", Text: true},
		{Name: "JSON null", JSON: "null", Field: "request"},
	}
	refused := map[string]int{}
	for i, bc := range append(cases, badinput.Cases...) {
		if bc.Servers {
			continue
		}
		id := fmt.Sprintf("bad-%d", i)
		out, err := exec.Command(srv.bin, "workflow", "start", "--address", srv.addr(), "--type", workflows.WorkflowName,
			"--task-queue", workflows.OrchestrationTaskQueue, "--workflow-id", id, "--input", bc.Fill(simSrv.URL, "http://127.0.0.1:1")).CombinedOutput()
		if strings.Contains(string(out), "is not valid JSON") {
			// The CLI refused it: no workflow may exist.
			if _, derr := c.DescribeWorkflowExecution(context.Background(), id, ""); derr == nil {
				t.Errorf("%s: the CLI refused the input but workflow %s exists", bc.Name, id)
			}
			refused["by the CLI, no workflow"]++
			continue
		}
		if err != nil {
			t.Fatalf("%s: temporal workflow start: %v\n%s", bc.Name, err, out)
		}
		if outcome := checkFailedAtOnce(t, c, id, bc); outcome != "" {
			refused[outcome]++
		}
	}
	if n := load.Load(); n != 0 {
		t.Errorf("the simulator was sent %d generation requests", n)
	}
	t.Logf("temporal workflow start --input: %v", refused)
}

// checkFailedAtOnce waits for workflow id to close and checks it failed in
// its first workflow task, non-retryable, naming the case's field, within
// 2 s of its start, with no activity and no failed workflow task.
func checkFailedAtOnce(t *testing.T, c client.Client, id string, bc badinput.Case) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(appErr.Error(), bc.Field) {
		t.Errorf("%s: want a non-retryable failure naming %s, got %v", bc.Name, bc.Field, err)
		return ""
	}
	var started, closed time.Time
	tasks := 0
	hist := c.GetWorkflowHistory(ctx, id, "", false, 0)
	for hist.HasNext() {
		e, err := hist.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.GetWorkflowExecutionStartedEventAttributes() != nil:
			started = e.GetEventTime().AsTime()
		case e.GetWorkflowExecutionFailedEventAttributes() != nil:
			closed = e.GetEventTime().AsTime()
		case e.GetWorkflowTaskCompletedEventAttributes() != nil:
			tasks++
		case e.GetActivityTaskScheduledEventAttributes() != nil, e.GetWorkflowTaskFailedEventAttributes() != nil:
			t.Errorf("%s: event %s in the history of a refused input", bc.Name, e.GetEventType())
		}
	}
	if took := closed.Sub(started); tasks != 1 || took > 2*time.Second {
		t.Errorf("%s: failed after %d workflow task(s), %s after the start; want the first, within 2 s", bc.Name, tasks, took)
		return ""
	}
	return "failed in the first workflow task, non-retryable"
}
