package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// BenchOptions tune one direct run of `starter bench`.
type BenchOptions struct {
	Store  results.Store // where the record parts go
	RunID  string
	Stdout io.Writer // vLLM's printed lines and table
	// OnRecord is called for every finished request (progress bars).
	OnRecord func(metrics.Record)
	// OnPlan is called once the plan is built, before any request is sent.
	OnPlan func(*Plan)
}

// BenchResult is a finished direct run.
type BenchResult struct {
	Plan    *Plan
	Outcome *Outcome
	Health  Health
	Extras  []metrics.ExtraField
}

// RunBench runs a whole benchmark in this process, as `vllm bench serve`
// does, against every replica at once; records stream to part files and the
// result is aggregated from them.
func RunBench(ctx context.Context, req config.Request, o BenchOptions) (*BenchResult, error) {
	plan, err := NewPlan(ctx, req, req.ReplicaBaseURL(0))
	if err != nil {
		return nil, err
	}
	if o.OnPlan != nil {
		o.OnPlan(plan)
	}
	req = plan.Request
	PrintPreamble(o.Stdout, req)
	date := time.Now()
	t0 := time.Now()
	arrivals := plan.AllArrivals()
	stats := make([]loadgen.Stats, req.Replicas())
	errs := make([]error, req.Replicas())
	var wg sync.WaitGroup
	for rep := range req.Replicas() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := RunRange(ctx, Range{Plan: plan, Store: o.Store, RunID: o.RunID, Slice: 0, Replica: rep, Attempt: 1,
				BaseURL: req.ReplicaBaseURL(rep), T0: t0, Send: arrivals, OnRecord: o.OnRecord})
			stats[rep], errs[rep] = res.Stats, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := Manifest{RunID: o.RunID, StartedAt: date, Model: plan.Model, Replicas: req.Replicas(), SlicesStarted: 1,
		Scheduled: len(arrivals) * req.Replicas()}
	if err := WriteManifest(context.WithoutCancel(ctx), o.Store, m); err != nil {
		return nil, err
	}
	out, err := Aggregate(context.WithoutCancel(ctx), o.Store, o.RunID, AggregateOptions{
		Request: req, Model: plan.Model, Tokenizer: plan.Tokenizer, Date: date, Scheduled: len(arrivals) * req.Replicas(),
	})
	if err != nil {
		return nil, err
	}
	// The replicas ran in this one process: its CPU over the run's wall time.
	var cpu, dur float64
	for _, s := range stats {
		cpu, dur = max(cpu, s.CPUSeconds), max(dur, s.Duration)
	}
	health := out.Health
	if dur > 0 {
		health.ClientCPUUtil = cpu / dur
	}
	health.Warning = HealthWarning(health)
	out.Health = health
	extras, err := Extras(AccountingOf(out, plan.Tokenizer), &health, nil, &out.Failures)
	if err != nil {
		return nil, err
	}
	return &BenchResult{Plan: plan, Outcome: out, Health: health, Extras: extras}, nil
}

// PrintPreamble prints what vLLM prints before its table.
func PrintPreamble(w io.Writer, req config.Request) {
	if w == nil {
		return
	}
	if req.Temperature == nil {
		fmt.Fprintln(w, "WARNING: vllm bench serve no longer sets temperature==0 (greedy) in requests by default. The default will be determined on the server side and can be model/API specific. For the old behavior, include --temperature=0.")
	}
	fmt.Fprintln(w, "Starting initial single prompt test run...")
	fmt.Fprintln(w, "Skipping endpoint ready check.")
	fmt.Fprintln(w, "Starting main benchmark run...")
	if req.RampUpStrategy != "" {
		fmt.Fprintf(w, "Traffic ramp-up strategy: %s.\n", req.RampUpStrategy)
		fmt.Fprintf(w, "Will increase RPS from %g to %g RPS over the duration of the benchmark.\n", req.RampUpStartRPS, req.RampUpEndRPS)
	} else {
		fmt.Fprintf(w, "Traffic request rate: %s\n", req.RequestRate.String())
	}
	kind := "Gamma distribution"
	if *req.Burstiness == 1 {
		kind = "Poisson process"
	}
	fmt.Fprintf(w, "Burstiness factor: %s (%s)\n", config.Rate(*req.Burstiness).String(), kind)
	if req.MaxConcurrency > 0 {
		fmt.Fprintf(w, "Maximum request concurrency: %d\n", req.MaxConcurrency)
	} else {
		fmt.Fprintln(w, "Maximum request concurrency: None")
	}
}

// SaveResult writes vLLM's result JSON into dir under vLLM's file name (or
// name), creating dir.
func SaveResult(dir, name, body string) (string, error) {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := dir + string(os.PathSeparator) + name
	return path, os.WriteFile(path, []byte(body), 0o644)
}
