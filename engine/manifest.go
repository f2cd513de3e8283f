package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Manifest is a run's account of itself in the store: with request.json
// and the slices' records it is everything result.json is computed from,
// so the result can be recomputed from the store alone.
type Manifest struct {
	RunID string `json:"run_id"`
	// Execution is the Temporal execution (first run id) that owns the
	// run's prefix: another execution under the same workflow id is refused.
	Execution     string    `json:"execution,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	Model         string    `json:"model"`
	Replicas      int       `json:"replicas"`
	SlicesStarted int       `json:"slices_started"`
	Scheduled     int       `json:"scheduled"`
	Partial       bool      `json:"partial,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	// Servers is what the run deployed (nil for existing servers).
	Servers *Servers `json:"servers,omitempty"`
}

// Servers are the vLLM servers a run deployed: the image, the exact
// arguments the pods ran with, and how they were adapted to the image's
// vLLM release.
type Servers struct {
	Image    string   `json:"image"`
	Args     []string `json:"args"`
	Warnings []string `json:"warnings,omitempty"`
}

// ReadManifest reads a run's manifest; results.ErrNotFound when it has none.
func ReadManifest(ctx context.Context, store results.Store, runID string) (*Manifest, error) {
	b, err := store.Get(ctx, results.ManifestKey(runID))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", store.Location(results.ManifestKey(runID)), err)
	}
	return &m, nil
}

// WriteManifest stores m under its run.
func WriteManifest(ctx context.Context, store results.Store, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return store.Put(ctx, results.ManifestKey(m.RunID), b)
}

// ClaimRun makes execution the owner of runID's prefix: it writes the first
// manifest, or accepts one this execution wrote, and refuses a prefix that
// holds another execution's run.
func ClaimRun(ctx context.Context, store results.Store, m Manifest) error {
	old, err := ReadManifest(ctx, store, m.RunID)
	switch {
	case errors.Is(err, results.ErrNotFound):
		if ok, err := store.Exists(ctx, results.RequestKey(m.RunID)); err != nil || ok {
			if err != nil {
				return err
			}
			return &InputError{fmt.Errorf("run %s: %s already holds an earlier run's results (stored without a manifest); "+
				"start this run with another workflow id, or move those results away", m.RunID, store.Location(results.RunPrefix(m.RunID)))}
		}
	case err != nil:
		return err
	case old.Execution != m.Execution:
		return &InputError{fmt.Errorf("run %s: %s already holds the results of execution %s started %s; "+
			"a workflow id names one run's results: start this run with another workflow id, or move those results away",
			m.RunID, store.Location(results.RunPrefix(m.RunID)), old.Execution, old.StartedAt.Format(time.RFC3339))}
	default:
		return nil
	}
	return WriteManifest(ctx, store, m)
}

// Final is a finished run's outputs.
type Final struct {
	Outcome        *Outcome
	Accounting     Accounting
	ResultJSON     string
	Table          string
	TimeseriesJSON []byte
	TimeseriesCSV  string
}

// FinalizeOptions change what Finalize computes from a stored run.
type FinalizeOptions struct {
	// Request replaces the stored request (new metric options); nil: stored.
	Request *config.Request
	// Tokenizer counts output tokens the records lack; nil: resolved from
	// the request as a plan would.
	Tokenizer datasets.Tokenizer
	// NoTokenizer recomputes as vLLM's --skip-tokenizer-init does.
	NoTokenizer bool
	Progress    func(pass, slicesRead, slices int)
	// Resume, Checkpoint and CheckpointEvery: see AggregateOptions.
	Resume          []byte
	Checkpoint      func(state []byte, pass, slicesRead int)
	CheckpointEvery time.Duration
}

// Finalize computes a run's result.json, table and timeseries from the
// store alone: its manifest, its request and its records.
func Finalize(ctx context.Context, store results.Store, runID string, o FinalizeOptions) (*Final, error) {
	m, err := ReadManifest(ctx, store, runID)
	if err != nil {
		return nil, fmt.Errorf("run %s: manifest: %w", runID, err)
	}
	req := config.Request{}
	if o.Request != nil {
		req = *o.Request
	} else {
		b, err := store.Get(ctx, results.RequestKey(runID))
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", runID, err)
		}
		if req, err = config.Decode(b); err != nil {
			return nil, fmt.Errorf("run %s: request.json: %w", runID, err)
		}
		req = req.Defaults()
	}
	if m.Model != "" {
		req.Model = m.Model
	}
	tok := o.Tokenizer
	if tok == nil && !o.NoTokenizer {
		tok, _ = ResolveTokenizer(req, req.ReplicaBaseURL(0))
	}
	out, err := Aggregate(ctx, store, runID, AggregateOptions{Request: req, Model: req.Model, Tokenizer: tok,
		Date: m.StartedAt, Scheduled: m.Scheduled, Progress: o.Progress,
		Resume: o.Resume, Checkpoint: o.Checkpoint, CheckpointEvery: o.CheckpointEvery})
	if err != nil {
		return nil, err
	}
	acc := AccountingOf(out, tok)
	acc.Partial, acc.Reason = m.Partial, m.Reason
	ts, err := json.MarshalIndent(out.Timeseries, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("timeseries: %w", err)
	}
	extras, err := Extras(acc, &out.Health, out.GPU, &out.Failures)
	if err != nil {
		return nil, err
	}
	if m.Servers != nil {
		b, err := json.Marshal(m.Servers)
		if err != nil {
			return nil, err
		}
		extras = append(extras, metrics.ExtraField{Key: "vllm_deployment", Value: string(b)})
	}
	return &Final{Outcome: out, Accounting: acc,
		ResultJSON:     metrics.ResultJSON(out.Result, out.Info, extras...),
		Table:          metrics.FormatReport(out.Result, out.Info) + WarningLine(out.Health),
		TimeseriesJSON: ts, TimeseriesCSV: TimeseriesCSV(out.Timeseries)}, nil
}
