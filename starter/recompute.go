package main

import (
	"context"
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

// recomputeOptions are starter recompute's flags; metric holds the metric
// options given, as flags for the request (--goodput=ttft:100 ...).
type recomputeOptions struct {
	golden, runID, resultDir, resultFile, date string
	skipTokenizer                              bool
	metric                                     []string
}

// metricFlags are the options a recompute may change from the run's.
var metricFlags = []string{"percentile-metrics", "metric-percentiles", "goodput", "save-detailed", "tokenizer"}

func recomputeCommand(fs *flag.FlagSet) runFunc {
	o := &recomputeOptions{}
	fs.StringVar(&o.golden, "golden", "", "a golden case file (cases/<case>.input.json)")
	fs.StringVar(&o.runID, "run", "", "a stored run's id (in BENCHMARK_RESULTS_BUCKET / BENCHMARK_RESULTS_DIRECTORY)")
	fs.StringVar(&o.resultDir, "result-dir", "", "write the result JSON here, under vLLM's file name")
	fs.StringVar(&o.resultFile, "result-filename", "", "file name of the result JSON (default vLLM's)")
	fs.StringVar(&o.date, "date", "", "a golden case's result date as YYYYMMDD-HHMMSS (default: now; a run's is its start)")
	fs.BoolVar(&o.skipTokenizer, "skip-tokenizer-init", false, "recompute as vLLM does without a tokenizer (output tokens from usage or 1; no token rows)")
	var r config.Request
	probe := flag.NewFlagSet("", flag.ContinueOnError)
	config.BindFlags(probe, &r)
	for _, name := range metricFlags {
		f := probe.Lookup(name)
		fs.Var(passFlag{name: name, bool: name == "save-detailed", to: &o.metric}, name, f.Usage)
	}
	return func(ctx context.Context, args []string) error {
		if err := fs.Parse(config.NormalizeArgs(args)); err != nil {
			return flagError("recompute", err)
		}
		return runRecompute(ctx, o, append(o.metric, fs.Args()...))
	}
}

// passFlag keeps a flag as given, to be parsed with the request's flags.
type passFlag struct {
	name string
	bool bool
	to   *[]string
}

func (f passFlag) String() string   { return "" }
func (f passFlag) IsBoolFlag() bool { return f.bool }
func (f passFlag) Set(v string) error {
	*f.to = append(*f.to, "--"+f.name+"="+v)
	return nil
}

// runRecompute recomputes vLLM's printed output and saved JSON from
// records: a golden case file (--golden) or a stored run (--run), with the
// run's own options or new ones given as flags (percentiles, goodput).
func runRecompute(ctx context.Context, o *recomputeOptions, metric []string) error {
	when := time.Now()
	if o.date != "" {
		var err error
		if when, err = time.ParseInLocation("20060102-150405", o.date, time.Local); err != nil {
			return exitError{2, fmt.Errorf("--date: want YYYYMMDD-HHMMSS, got %q", o.date)}
		}
	}
	var (
		res  metrics.Result
		info metrics.RunInfo
		req  config.Request
		body string // the result JSON
	)
	switch {
	case o.golden != "" && o.runID == "":
		c, err := metrics.LoadGoldenCase(o.golden)
		if err != nil {
			return err
		}
		cli := newFlagSet("recompute")
		cli.BoolVar(&o.skipTokenizer, "skip-tokenizer-init", o.skipTokenizer, "")
		reqs, err := parseRequests(cli, append(c.CLI, metric...), vllmRequest)
		if err != nil {
			return fmt.Errorf("the case's cli: %w", err)
		}
		req = reqs[0]
		if err := validateUsed(req); err != nil {
			return err
		}
		tok, err := recomputeTokenizer(req, o.skipTokenizer)
		if err != nil {
			return err
		}
		res = metrics.Calculate(c.Records, c.Duration, engine.MetricsOptions(req, tok))
		info = engine.RunInfo(req, req.Model, tok, when, req.NumPrompts)
		body = metrics.ResultJSON(res, info)
	case o.runID != "" && o.golden == "":
		store, err := results.FromEnv(ctx, os.Getenv)
		if err != nil {
			return err
		}
		var override *config.Request
		if len(metric) > 0 {
			if override, err = storedWithMetricFlags(ctx, store, o.runID, metric); err != nil {
				return err
			}
		}
		final, err := engine.Finalize(ctx, store, o.runID, engine.FinalizeOptions{Request: override, NoTokenizer: o.skipTokenizer})
		if err != nil {
			return err
		}
		res, info, body = final.Outcome.Result, final.Outcome.Info, final.ResultJSON
		if override != nil {
			req = *override
		} else if req, err = storedRequest(ctx, store, o.runID); err != nil {
			return err
		}
	default:
		return usageError{"recompute", "give exactly one of --golden CASE.input.json or --run RUN_ID"}
	}
	engine.PrintPreamble(os.Stdout, req)
	fmt.Print(metrics.FormatReport(res, info))
	// Recomputing an all-failed run succeeds; the user is still told.
	fmt.Fprint(os.Stderr, metrics.FormatAllFailed(res, topErrors))
	if o.resultDir != "" || o.resultFile != "" {
		name := o.resultFile
		if name == "" {
			name = metrics.ResultFileName(info)
		}
		path, err := engine.SaveResult(o.resultDir, name, body)
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
	reqs, err := parseRequests(newFlagSet("recompute"), args, vllmRequest)
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
