package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// runRecompute recomputes vLLM's printed output and saved JSON from
// records: a golden case file (--golden) or a stored run (--run), with the
// run's own options or new ones given as flags (percentiles, goodput).
func runRecompute(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("recompute", flag.ContinueOnError)
	golden := fs.String("golden", "", "a golden case file (cases/<case>.input.json)")
	runID := fs.String("run", "", "a stored run's id (in BENCHMARK_RESULTS_BUCKET / BENCHMARK_RESULTS_DIRECTORY)")
	resultDir := fs.String("result-dir", "", "write the result JSON here, under vLLM's file name")
	resultFile := fs.String("result-filename", "", "file name of the result JSON (default vLLM's)")
	date := fs.String("date", "", "a golden case's result date as YYYYMMDD-HHMMSS (default: now; a run's is its start)")
	skipTokenizer := fs.Bool("skip-tokenizer-init", false, "recompute as vLLM does without a tokenizer (output tokens from usage or 1; no token rows)")
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	when := time.Now()
	if *date != "" {
		var err error
		if when, err = time.ParseInLocation("20060102-150405", *date, time.Local); err != nil {
			return exitError{2, fmt.Errorf("--date: want YYYYMMDD-HHMMSS, got %q", *date)}
		}
	}
	var (
		res  metrics.Result
		info metrics.RunInfo
		req  config.Request
		body string // the result JSON
	)
	switch {
	case *golden != "" && *runID == "":
		c, err := metrics.LoadGoldenCase(*golden)
		if err != nil {
			return err
		}
		cli := flag.NewFlagSet("recompute", flag.ContinueOnError)
		cli.BoolVar(skipTokenizer, "skip-tokenizer-init", *skipTokenizer, "")
		reqs, err := parseRequests(cli, append(c.CLI, fs.Args()...))
		if err != nil {
			return fmt.Errorf("the case's cli: %w", err)
		}
		req = reqs[0]
		if err := validateUsed(req); err != nil {
			return err
		}
		tok, err := recomputeTokenizer(req, *skipTokenizer)
		if err != nil {
			return err
		}
		res = metrics.Calculate(c.Records, c.Duration, engine.MetricsOptions(req, tok))
		info = engine.RunInfo(req, req.Model, tok, when, req.NumPrompts)
		body = metrics.ResultJSON(res, info)
	case *runID != "" && *golden == "":
		store, err := results.FromEnv(ctx, os.Getenv)
		if err != nil {
			return err
		}
		var override *config.Request
		if len(fs.Args()) > 0 {
			if override, err = storedWithMetricFlags(ctx, store, *runID, fs.Args()); err != nil {
				return err
			}
		}
		final, err := engine.Finalize(ctx, store, *runID, engine.FinalizeOptions{Request: override, NoTokenizer: *skipTokenizer})
		if err != nil {
			return err
		}
		res, info, body = final.Outcome.Result, final.Outcome.Info, final.ResultJSON
		if override != nil {
			req = *override
		} else if req, err = storedRequest(ctx, store, *runID); err != nil {
			return err
		}
	default:
		return exitError{2, errors.New("give exactly one of --golden CASE.input.json or --run RUN_ID")}
	}
	engine.PrintPreamble(os.Stdout, req)
	fmt.Print(metrics.FormatReport(res, info))
	// Recomputing an all-failed run succeeds; the user is still told.
	fmt.Fprint(os.Stderr, metrics.FormatAllFailed(res, topErrors))
	if *resultDir != "" || *resultFile != "" {
		name := *resultFile
		if name == "" {
			name = metrics.ResultFileName(info)
		}
		path, err := engine.SaveResult(*resultDir, name, body)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "saved", path)
	}
	return nil
}

func storedRequest(ctx context.Context, store results.Store, runID string) (config.Request, error) {
	b, err := store.Get(ctx, results.RequestKey(runID))
	if err != nil {
		return config.Request{}, fmt.Errorf("run %s: %w", runID, err)
	}
	req, err := config.Decode(b)
	if err != nil {
		return config.Request{}, fmt.Errorf("run %s: request.json: %w", runID, err)
	}
	return req.Defaults(), nil
}

// storedWithMetricFlags is the stored run's request with the metric
// options given as flags.
func storedWithMetricFlags(ctx context.Context, store results.Store, runID string, args []string) (*config.Request, error) {
	stored, err := storedRequest(ctx, store, runID)
	if err != nil {
		return nil, err
	}
	reqs, err := parseRequests(flag.NewFlagSet("recompute", flag.ContinueOnError), args)
	if err != nil {
		return nil, err
	}
	req := overrideMetrics(stored, reqs[0], args)
	if err := validateUsed(req); err != nil {
		return nil, err
	}
	return &req, nil
}

// validateUsed validates only what recomputing reads from a request: the
// metric options and the result header. The dataset, the servers and the
// deployment are not used (a sharegpt run recomputes without its file).
func validateUsed(req config.Request) error {
	used := config.Request{
		Backend: req.Backend, Model: req.Model, Label: req.Label, Metadata: req.Metadata,
		RequestRate: req.RequestRate, Burstiness: req.Burstiness, MaxConcurrency: req.MaxConcurrency,
		RampUpStrategy: req.RampUpStrategy, RampUpStartRPS: req.RampUpStartRPS, RampUpEndRPS: req.RampUpEndRPS,
		PercentileMetrics: req.PercentileMetrics, MetricPercentiles: req.MetricPercentiles, Goodput: req.Goodput,
	}
	return used.Defaults().ValidateFields()
}

// recomputeTokenizer is the run's tokenizer (for output tokens the server
// did not report, and the token rows), or none as vLLM's
// --skip-tokenizer-init.
func recomputeTokenizer(req config.Request, skip bool) (datasets.Tokenizer, error) {
	if skip {
		return nil, nil
	}
	tok, err := engine.ResolveTokenizer(req, req.ServerBaseURL())
	if err != nil {
		return nil, fmt.Errorf("%w (or --skip-tokenizer-init to recompute without one)", err)
	}
	return tok, nil
}

// overrideMetrics takes the metric options (and --tokenizer) given as flags
// over a stored run's request; everything else stays as the run had it.
func overrideMetrics(stored, flags config.Request, args []string) config.Request {
	given := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		given[name] = true
	}
	if given["--percentile-metrics"] {
		stored.PercentileMetrics = flags.PercentileMetrics
	}
	if given["--metric-percentiles"] {
		stored.MetricPercentiles = flags.MetricPercentiles
	}
	if given["--goodput"] {
		stored.Goodput = flags.Goodput
	}
	if given["--save-detailed"] {
		stored.SaveDetailed = true
	}
	if given["--tokenizer"] {
		stored.Tokenizer = flags.Tokenizer
	}
	return stored
}
