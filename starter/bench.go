package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// runBench runs one benchmark in this process with vLLM's flags and prints
// and saves what vLLM prints and saves.
func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	saveResult := fs.Bool("save-result", false, "save vLLM's result JSON")
	resultDir := fs.String("result-dir", "", "directory for the result JSON (default .)")
	resultFile := fs.String("result-filename", "", "file name of the result JSON (default vLLM's)")
	recordsDir := fs.String("records-dir", "", "keep the per-request record parts here (default: a temporary directory, removed)")
	reqs, err := parseRequests(fs, args)
	if err != nil {
		return err
	}
	if len(reqs) != 1 {
		return fmt.Errorf("--config holds %d requests; bench runs one (use `starter start` for a list)", len(reqs))
	}
	req := reqs[0]
	if err := req.Validate(); err != nil {
		return err
	}
	dir := *recordsDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vib-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	store, err := results.NewLocal(dir)
	if err != nil {
		return err
	}
	runID := "bench-" + time.Now().UTC().Format("20060102-150405")
	var bar *progressbar.ProgressBar
	res, err := engine.RunBench(ctx, req, engine.BenchOptions{
		Store: store, RunID: runID, Stdout: os.Stdout,
		OnPlan: func(p *engine.Plan) {
			if term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions(len(p.Offsets)*p.Request.Replicas(), progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond))
			}
		},
		OnRecord: func(metrics.Record) {
			if bar != nil {
				_ = bar.Add(1)
			}
		},
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	out := res.Outcome
	fmt.Print(metrics.FormatReport(out.Result, out.Info), engine.WarningLine(res.Health))
	if *saveResult {
		name := *resultFile
		if name == "" {
			name = metrics.ResultFileName(out.Info)
		}
		path, err := engine.SaveResult(*resultDir, name, metrics.ResultJSON(out.Result, out.Info, res.Extras...))
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "saved", path)
	}
	if *recordsDir != "" {
		fmt.Fprintln(os.Stderr, "records in", store.Location(runID))
	}
	return ctx.Err()
}
