// Package e2e runs the stress-test workflow end to end against the real
// Temporal dev server, a real S3-compatible server over HTTP and simulated
// vLLM replicas, with the worker as a separate process that gets killed.
package e2e

import (
	"github.com/vibench/vllm-inference-benchmark/internal/testtools"

	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/internal/freeport"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

const model = "meta-llama/Llama-3.1-405B-Instruct-FP8"

func temporalBinary(t *testing.T) string {
	t.Helper()
	return testtools.Bin(t, "temporal", "scripts/tools.sh temporal")
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	for range 240 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// temporalServer is `temporal server start-dev` with the workflow's search
// attributes and a database file, so it can be restarted with its state.
type temporalServer struct {
	t    *testing.T
	bin  string
	port int
	db   string
	cmd  *exec.Cmd
}

func startTemporal(t *testing.T) *temporalServer {
	s := &temporalServer{t: t, bin: temporalBinary(t), port: freeport.Port(t), db: filepath.Join(t.TempDir(), "temporal.db")}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *temporalServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *temporalServer) start() {
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", fmt.Sprint(s.port),
		"--db-filename", s.db, "--log-level", "error"}
	for _, k := range workflows.SearchAttributes {
		args = append(args, "--search-attribute", k.GetName()+"="+k.GetValueType().String())
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	waitPort(s.t, s.addr())
}

func (s *temporalServer) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, "../worker").CombinedOutput()
	if err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	return bin
}

type workerProc struct {
	t    *testing.T
	bin  string
	env  []string
	args []string
	cmd  *exec.Cmd
}

func (w *workerProc) start() {
	w.cmd = exec.Command(w.bin, append([]string{"--metrics-addr", ""}, w.args...)...)
	w.cmd.Env = w.env
	w.cmd.Stderr = os.Stderr
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *workerProc) kill() {
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				w.t.Logf("worker pid %d peak RSS %s", w.cmd.Process.Pid, strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")))
			}
		}
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	_ = w.cmd.Wait()
}

// A time-compressed stress run (6 slices of 5 s, 2 replicas, 40 req/s each)
// whose worker is SIGKILLed twice mid-slice and restarted: the run
// completes, every scheduled request is counted exactly once, and the
// stored result equals a recomputation from the stored parts.
func TestStressRunSurvivesWorkerKills(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	addr := startTemporal(t).addr()
	_, s3env := s3test.Start(t, "bench")
	var replicas config.List
	for range 2 {
		sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 20 * time.Millisecond, ITL: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv.URL)
	}
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+addr, "BENCHMARK_RESULTS_BUCKET=bench", "BENCHMARK_RESULTS_DIRECTORY=e2e")
	for k, v := range s3env {
		env = append(env, k+"="+v)
	}
	w := &workerProc{t: t, bin: buildWorker(t), env: env}
	w.start()
	t.Cleanup(w.kill)

	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rate := config.Rate(40)
	req := config.Request{ReplicasBaseURLs: replicas, Model: model, Backend: "openai-chat", DatasetName: "sonnet",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2, RequestRate: &rate, NumPrompts: 1200, SliceSeconds: 5}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-kill", TaskQueue: workflows.OrchestrationTaskQueue},
		workflows.WorkflowName, req)
	if err != nil {
		t.Fatal(err)
	}
	// Kill the worker in the middle of slices 2 and 4 (counting from 1).
	for _, slice := range []int{2, 4} {
		waitSlice(ctx, t, c, run.GetID(), slice)
		time.Sleep(2500 * time.Millisecond)
		w.kill()
		t.Logf("killed the worker during slice %d", slice)
		time.Sleep(time.Second)
		w.start()
	}
	var out workflows.Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	t.Logf("result:\n%s", out.Result.Table)

	store, err := results.FromEnv(ctx, func(k string) string {
		if v, ok := s3env[k]; ok {
			return v
		}
		return map[string]string{"BENCHMARK_RESULTS_BUCKET": "bench", "BENCHMARK_RESULTS_DIRECTORY": "e2e"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := store.Get(ctx, results.ResultKey(run.GetID()))
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Completed  int               `json:"completed"`
		Failed     int               `json:"failed"`
		MeanTTFT   float64           `json:"mean_ttft_ms"`
		Accounting engine.Accounting `json:"run_accounting"`
	}
	if err := json.Unmarshal(body, &saved); err != nil {
		t.Fatal(err)
	}
	a := saved.Accounting
	if a.Scheduled != 2400 || a.Completed+a.Failed+a.Interrupted != 2400 || a.NotRun != 0 {
		t.Fatalf("accounting %+v: every scheduled request must be counted exactly once", a)
	}
	if a.Interrupted == 0 {
		t.Errorf("two kills mid-slice interrupted nothing: %+v", a)
	}
	ids := map[string]bool{}
	type firstSend struct{ at, lateness float64 }
	first := map[[2]int]firstSend{} // (slice, replica) -> its first sent request
	if err := engine.ReadRecords(ctx, store, run.GetID(), func(r metrics.Record) error {
		if r.Status != metrics.StatusInterrupted {
			k := [2]int{int(r.ScheduledAt / 5), r.Replica}
			if prev, ok := first[k]; !ok || r.ScheduledAt < prev.at {
				first[k] = firstSend{r.ScheduledAt, r.Lateness}
			}
		}
		if ids[r.RequestID] {
			t.Errorf("request id %s read twice", r.RequestID)
		}
		ids[r.RequestID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var lates []float64
	for _, f := range first {
		lates = append(lates, f.lateness*1000)
	}
	sort.Float64s(lates)
	if n := len(lates); n > 0 {
		t.Logf("first request of each slice: send lateness p50 %.3f ms, p99 %.3f ms over %d slice-replicas", lates[n/2], lates[min(n-1, n*99/100)], n)
	}
	if len(ids) != 2400 {
		t.Errorf("%d distinct request ids stored, want 2400", len(ids))
	}
	// The stored result equals a recomputation over the stored parts.
	reqStored, err := store.Get(ctx, results.RequestKey(run.GetID()))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := config.Decode(reqStored)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.NewPlan(ctx, r2, replicas[0])
	if err != nil {
		t.Fatal(err)
	}
	again, err := engine.Aggregate(ctx, store, run.GetID(), engine.AggregateOptions{Request: plan.Request, Model: plan.Model, Tokenizer: plan.Tokenizer, Scheduled: 2400})
	if err != nil {
		t.Fatal(err)
	}
	if again.Result.Completed != saved.Completed || again.Result.Failed != saved.Failed || again.Result.TTFT.Mean != saved.MeanTTFT {
		t.Errorf("recomputed completed %d failed %d ttft %v, stored %d %d %v", again.Result.Completed, again.Result.Failed,
			again.Result.TTFT.Mean, saved.Completed, saved.Failed, saved.MeanTTFT)
	}
	if !strings.Contains(out.Result.Table, "Serving Benchmark Result") {
		t.Errorf("no table in the outcome")
	}
}

func waitSlice(ctx context.Context, t *testing.T, c client.Client, id string, slice int) {
	t.Helper()
	for ctx.Err() == nil {
		v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
		if err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil && p.SlicesStarted >= slice {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("slice %d never started", slice)
}
