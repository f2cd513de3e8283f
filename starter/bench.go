package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// exitAllFailed is starter bench's exit status when the run finished but
// no request succeeded (vLLM exits 0 then; a script must be able to tell).
const exitAllFailed = 3

// topErrors is how many distinct error texts an all-failed run lists.
const topErrors = 5

// benchOptions are starter bench's own flags: vLLM's result-file flags,
// its progress-bar switch, and where to keep the records.
type benchOptions struct {
	saveResult, appendResult, disableTqdm bool
	resultDir, resultFile, recordsDir     string
}

func bindBenchFlags(fs *flag.FlagSet) *benchOptions {
	o := &benchOptions{}
	fs.BoolVar(&o.saveResult, "save-result", false, "save vLLM's result JSON")
	fs.BoolVar(&o.appendResult, "append-result", false, "append the result JSON to the file as one more line (JSON lines)")
	fs.BoolVar(&o.disableTqdm, "disable-tqdm", false, "show no progress bar")
	fs.StringVar(&o.resultDir, "result-dir", "", "directory for the result JSON (default .)")
	fs.StringVar(&o.resultFile, "result-filename", "", "file name of the result JSON (default vLLM's)")
	fs.StringVar(&o.recordsDir, "records-dir", "", "keep the request and its per-request record parts here, for starter recompute --run (default: a temporary directory, removed)")
	return o
}

func benchCommand(fs *flag.FlagSet) runFunc {
	o := bindBenchFlags(fs)
	return func(ctx context.Context, args []string) error { return runBench(ctx, fs, o, args) }
}

// runBench runs one benchmark in this process with vLLM's flags and prints
// and saves what vLLM prints and saves.
func runBench(ctx context.Context, fs *flag.FlagSet, o *benchOptions, args []string) error {
	reqs, err := parseRequests(fs, args, vllmRequest)
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
	if req.Deploy == "kubernetes" {
		return &config.ValidationError{Problems: []config.FieldError{{Field: "deploy",
			Problem: "bench runs against servers that are up; a run that deploys vLLM (deploy \"kubernetes\") goes through `starter start`"}}}
	}
	dir := o.recordsDir
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
			if !o.disableTqdm && term.IsTerminal(int(os.Stderr.Fd())) {
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
	health := res.Health
	health.Warning = selfCheck(health, out.Result, res.Plan.Request)
	fmt.Print(metrics.FormatReport(out.Result, out.Info), engine.WarningLine(health))
	if o.saveResult || o.appendResult {
		extras, err := benchExtras(res, health)
		if err != nil {
			return err
		}
		path, err := writeResult(o, metrics.ResultFileName(out.Info), metrics.ResultJSON(out.Result, out.Info, extras...))
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "saved", path)
	}
	if o.recordsDir != "" {
		body, err := json.MarshalIndent(res.Plan.Request, "", "  ")
		if err != nil {
			return fmt.Errorf("request.json: %w", err)
		}
		if err := store.Put(ctx, results.RequestKey(runID), body); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "records in %s (starter recompute --run %s with BENCHMARK_RESULTS_DIRECTORY=%s)\n", store.Location(runID), runID, dir)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if warning := metrics.FormatAllFailed(out.Result, topErrors); warning != "" {
		fmt.Fprint(os.Stderr, warning)
		return exitError{exitAllFailed, errors.New("every request failed; the server's answers are above (exit status 3)")}
	}
	return nil
}

// writeResult writes vLLM's result file: name (or --result-filename) in
// --result-dir, created; with --append-result one more line at the end,
// after a newline when the file is not empty, as vLLM does.
func writeResult(o *benchOptions, name, body string) (string, error) {
	if o.resultFile != "" {
		name = o.resultFile
	}
	if o.resultDir != "" {
		if err := os.MkdirAll(o.resultDir, 0o755); err != nil {
			return "", err
		}
		name = filepath.Join(o.resultDir, name)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.appendResult {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if err != nil {
		return "", err
	}
	if st, err := f.Stat(); err == nil && o.appendResult && st.Size() > 0 {
		body = "\n" + body
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return "", err
	}
	return name, f.Close()
}

// clientHealth is engine.Health as result.json carries it, with the
// transport that timed the responses.
type clientHealth struct {
	engine.Health
	Transport string `json:"transport"`
}

// benchExtras are the project's keys after vLLM's; a value that cannot be
// written is an error, never a hole in the file.
func benchExtras(res *engine.BenchResult, health engine.Health) ([]metrics.ExtraField, error) {
	acc, err := metrics.Extra("run_accounting", engine.AccountingOf(res.Outcome, res.Plan.Tokenizer))
	if err != nil {
		return nil, err
	}
	failures, err := metrics.Extra("failures", res.Outcome.Failures)
	if err != nil {
		return nil, err
	}
	req := res.Plan.Request
	h, err := metrics.Extra("client_health", clientHealth{Health: health, Transport: loadgen.TransportFor(req.URL())})
	if err != nil {
		return nil, err
	}
	return []metrics.ExtraField{acc, failures, h}, nil
}

// Below these the self-check has too little to judge by.
const (
	minJudgedSeconds = 1.0 // CPU share of a shorter run is mostly start-up
	minJudgedSends   = 100 // a lateness p99 of fewer sends is one send
)

// selfCheck is the generator's verdict, given only when the run can
// show it: the send lateness of a finite-rate schedule with enough sends
// (at rate inf every request is due at once, so lateness measures the
// dispatch of the whole burst, not a client falling behind), and the CPU
// share of a run long enough for start-up not to dominate.
func selfCheck(h engine.Health, res metrics.Result, req config.Request) string {
	sent := res.Statuses.Completed + res.Statuses.Failed
	if req.RequestRate.IsInf() && req.RampUpStrategy == "" || sent < minJudgedSends {
		h.LatenessP99Ms = 0
	}
	if res.Duration < minJudgedSeconds {
		h.ClientCPUUtil = 0
	}
	return engine.HealthWarning(h)
}
