//go:build ignore

// Command record runs StressTestWorkflow on a real Temporal dev server with
// stub activities and writes the histories that TestReplay replays:
//
//	go run workflows/testdata/record/main.go -temporal .cache/bin/temporal -out workflows/testdata
//
// Runs:
//   - chain: 5 one-second slices on 2 replicas, continue-as-new every 2
//     slices: history-chain-<segment>.json, one file per run of the chain;
//   - stop: stopped by the stop update and the stop signal during the load:
//     history-stop.json.
//
// With -shape full it instead runs the 11.5-hour shape (139 slices on 2
// replicas, continue-as-new every 48) with half-second slices and prints
// the number of history events of each run, writing nothing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

func main() {
	cli := flag.String("temporal", ".cache/bin/temporal", "the Temporal CLI binary")
	out := flag.String("out", "workflows/testdata", "where the history files go")
	shape := flag.String("shape", "small", "small (record histories) or full (count events)")
	flag.Parse()
	if err := run(*cli, *out, *shape); err != nil {
		log.Fatal(err)
	}
}

func run(cli, out, shape string) error {
	ctx := context.Background()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: cli,
		LogLevel:     "error",
		SearchAttributes: temporal.NewSearchAttributes(workflows.ModelAttr.ValueSet(""),
			workflows.GPUTypeAttr.ValueSet(""), workflows.PhaseAttr.ValueSet(""),
			workflows.HealthAttr.ValueSet(""), workflows.FailedPctAttr.ValueSet(0)),
		ClientOptions: &client.Options{Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))},
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	c := srv.Client()

	stubs := &stubActivities{numSlices: 5}
	if shape == "full" {
		stubs.numSlices = 139
	}
	orch := worker.New(c, workflows.OrchestrationTaskQueue, worker.Options{})
	orch.RegisterWorkflowWithOptions(workflows.StressTestWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	orch.RegisterWorkflowWithOptions(workflows.SliceWorkflow, workflow.RegisterOptions{Name: workflows.SliceWorkflowName})
	load := worker.New(c, workflows.LoadTaskQueue, worker.Options{})
	for _, w := range []worker.Worker{orch, load} {
		reg := func(fn any, name string) { w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
		reg(stubs.Prepare, activities.PrepareName)
		reg(stubs.Deploy, activities.DeployName)
		reg(stubs.WaitReady, activities.WaitReadyName)
		reg(stubs.LoadSlice, activities.LoadSliceName)
		reg(stubs.Aggregate, activities.AggregateName)
		reg(stubs.Teardown, activities.TeardownName)
		if err := w.Start(); err != nil {
			return err
		}
		defer w.Stop()
	}

	rate := config.Rate(12)
	req := config.Request{
		Model: "meta-llama/Llama-3.1-8B-Instruct", NumPrompts: 60, RequestRate: &rate,
		DatasetName: "sonnet", SonnetInputLen: 512, SonnetOutputLen: 128, SonnetPrefixLen: 2,
		SliceSeconds: 1, ContinueAsNewEach: 2, HFTokenSecret: "hf-token",
		ReplicasBaseURLs: config.List{"http://replica-0:8000", "http://replica-1:8000"},
	}
	if shape == "full" {
		req.NumPrompts, req.SliceSeconds, req.ContinueAsNewEach = 500000, 0.5, 48
		runs, err := startAndWait(ctx, c, "record-full", req, nil)
		if err != nil {
			return err
		}
		for i, r := range runs {
			n, err := countEvents(ctx, c, "record-full", r)
			if err != nil {
				return err
			}
			fmt.Printf("run %d (%s): %d history events\n", i, r, n)
		}
		return nil
	}

	runs, err := startAndWait(ctx, c, "record-chain", req, nil)
	if err != nil {
		return err
	}
	for i, r := range runs {
		if err := show(cli, srv.FrontendHostPort(), "record-chain", r, filepath.Join(out, fmt.Sprintf("history-chain-%d.json", i))); err != nil {
			return err
		}
	}

	if err := showFirstChild(ctx, c, cli, srv.FrontendHostPort(), "record-chain", runs[0], filepath.Join(out, "history-slice-chain.json")); err != nil {
		return err
	}

	req.ContinueAsNewEach = 100
	stopRuns, err := startAndWait(ctx, c, "record-stop", req, func(id string) error {
		time.Sleep(12 * time.Second) // inside the load
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.StopUpdate,
			Args: []any{"enough data"}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		var p workflows.Progress
		if err := h.Get(ctx, &p); err != nil {
			return err
		}
		return c.SignalWorkflow(ctx, id, "", workflows.StopSignal, "second stop")
	})
	if err != nil {
		return err
	}
	if err := show(cli, srv.FrontendHostPort(), "record-stop", stopRuns[0], filepath.Join(out, "history-stop.json")); err != nil {
		return err
	}
	// The slice in flight when the stop came: its child was cancelled.
	return showLastChild(ctx, c, cli, srv.FrontendHostPort(), "record-stop", stopRuns[0], filepath.Join(out, "history-slice-stop.json"))
}

// childIDs lists the slice children a run started, in order.
func childIDs(ctx context.Context, c client.Client, id, runID string) ([]string, error) {
	var ids []string
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
			ids = append(ids, a.GetWorkflowId())
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("run %s of %s started no slice child", runID, id)
	}
	return ids, nil
}

func showFirstChild(ctx context.Context, c client.Client, cli, address, id, runID, path string) error {
	ids, err := childIDs(ctx, c, id, runID)
	if err != nil {
		return err
	}
	return show(cli, address, ids[0], "", path)
}

func showLastChild(ctx context.Context, c client.Client, cli, address, id, runID, path string) error {
	ids, err := childIDs(ctx, c, id, runID)
	if err != nil {
		return err
	}
	return show(cli, address, ids[len(ids)-1], "", path)
}

// startAndWait starts the workflow, runs during (if any) while it runs,
// follows continue-as-new to the end and returns every run ID in order.
func startAndWait(ctx context.Context, c client.Client, id string, req config.Request, during func(id string) error) ([]string, error) {
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.OrchestrationTaskQueue},
		workflows.WorkflowName, req, (*workflows.Carry)(nil))
	if err != nil {
		return nil, err
	}
	if during != nil {
		if err := during(id); err != nil {
			return nil, err
		}
	}
	runs := []string{wr.GetRunID()}
	if err := wr.Get(ctx, nil); err != nil { // follows continue-as-new to the last run
		return nil, err
	}
	for {
		it := c.GetWorkflowHistory(ctx, id, runs[len(runs)-1], false, enums.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		next := ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		if next == "" {
			return runs, nil
		}
		runs = append(runs, next)
	}
}

func countEvents(ctx context.Context, c client.Client, id, runID string) (int, error) {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// show exports one run's history with the CLI, in the JSON format that the
// replayer reads.
func show(cli, address, id, runID, path string) error {
	args := []string{"workflow", "show", "--address", address, "-w", id, "-o", "json"}
	if runID != "" {
		args = append(args, "-r", runID)
	}
	b, err := exec.Command(cli, args...).Output()
	if err != nil {
		return fmt.Errorf("temporal workflow show: %w", err)
	}
	var check map[string]any
	if err := json.Unmarshal(b, &check); err != nil {
		return fmt.Errorf("history of %s is not JSON: %w", runID, err)
	}
	fmt.Printf("%s: %d events\n", path, len(check["events"].([]any)))
	return os.WriteFile(path, b, 0o644)
}

// stubActivities answer like the real ones, without servers or a store.
type stubActivities struct{ numSlices int }

func (s *stubActivities) Prepare(_ context.Context, in activities.PrepareInput) (activities.Plan, error) {
	return activities.Plan{NumPrompts: in.Request.NumPrompts, NumSlices: s.numSlices,
		LastOffset: float64(s.numSlices) * in.Request.SliceSeconds, Model: in.Request.Model,
		TokenizerName: in.Request.Model, GPUType: "H100", SearchAttributes: true}, nil
}

func (s *stubActivities) Deploy(_ context.Context, in activities.DeployInput) (activities.Deployment, error) {
	return activities.Deployment{Kind: "existing", Endpoints: in.Request.ReplicasBaseURLs}, nil
}

func (s *stubActivities) WaitReady(_ context.Context, in activities.TeardownInput) (activities.Deployment, error) {
	return in.Deployment, nil
}

// LoadSlice lasts until its slice ends, heartbeating, and stops early when
// cancelled, as the real one does.
func (s *stubActivities) LoadSlice(ctx context.Context, in activities.SliceInput) (activities.SliceResult, error) {
	end := in.T0.Add(time.Duration(float64(in.Slice+1) * in.Request.SliceSeconds * float64(time.Second)))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Now().Before(end) && ctx.Err() == nil {
		activity.RecordHeartbeat(ctx, activities.SliceProgress{})
		select {
		case <-ctx.Done():
		case <-tick.C:
		case <-time.After(time.Until(end)):
		}
	}
	sum := metrics.NewSummary()
	sum.Add(metrics.Record{Success: true, Status: metrics.StatusCompleted, PromptLen: 512, OutputTokens: 128,
		TTFT: 0.1, ITL: []float64{0.02, 0.02}, Latency: 2.6})
	return activities.SliceResult{Slice: in.Slice, Replica: in.Replica, Summary: sum, Parts: 1}, nil
}

func (s *stubActivities) Aggregate(_ context.Context, in activities.AggregateInput) (activities.AggregateResult, error) {
	return activities.AggregateResult{ResultKey: in.RunID + "/result.json", Location: "file:///tmp/results"}, nil
}

func (s *stubActivities) Teardown(context.Context, activities.TeardownInput) error { return nil }
