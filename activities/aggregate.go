package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/report"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// AggregateProgress is Aggregate's heartbeat. Checkpoint, once set, is
// the key of what the reading has computed so far: a retry goes on from it.
type AggregateProgress struct {
	Pass       int    `json:"pass"` // over the run, from 1: the exact ITL statistics take 2 or more
	SlicesRead int    `json:"slices_read"`
	Slices     int    `json:"slices"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

// AggregateCheckpointEvery is how much reading a retried Aggregate may
// redo: a checkpoint is stored after the slice that passes it.
const AggregateCheckpointEvery = time.Minute

// Aggregate writes the run's manifest (what ran, how it ended), then reads
// every stored record of the run and writes timeseries.json/.csv,
// result.txt (the table) and result.json (vLLM's JSON for the whole run,
// with the run's accounting after vLLM's keys): exactly what
// `starter recompute --run` computes from the store alone. The result is
// written last, after every object it was computed from.
func (a *Activities) Aggregate(ctx context.Context, in AggregateInput) (AggregateResult, error) {
	req := in.Request
	if in.Model != "" {
		req.Model = in.Model
	}
	if in.ServedModelName != "" {
		req.ServedModelName = in.ServedModelName
	}
	plan, err := a.plan(ctx, req, req.ReplicaBaseURL(0))
	if err != nil {
		return AggregateResult{}, err
	}
	scheduled := 0
	for k := range in.NumSlices {
		scheduled += len(plan.SliceArrivals(k)) * in.Replicas
	}
	m := engine.Manifest{RunID: in.RunID, Execution: in.Execution, StartedAt: in.StartedAt, Model: plan.Model,
		Replicas: in.Replicas, SlicesStarted: in.NumSlices, Scheduled: scheduled, Partial: in.Partial, Reason: in.Reason}
	if d := in.Deployment; d.Image != "" {
		m.Servers = &engine.Servers{Image: d.Image, Args: d.Args, Warnings: d.Warnings}
	}
	if err := engine.WriteManifest(ctx, a.Store, m); err != nil {
		return AggregateResult{}, err
	}
	hb := AggregateProgress{Slices: in.NumSlices}
	resume := a.aggregateCheckpoint(ctx, &hb)
	activity.RecordHeartbeat(ctx, hb)
	log := a.Log.With(zap.String("run_id", in.RunID))
	final, err := engine.Finalize(ctx, a.Store, in.RunID, engine.FinalizeOptions{Tokenizer: plan.Tokenizer,
		Resume: resume, CheckpointEvery: AggregateCheckpointEvery,
		Progress: func(pass, read, slices int) {
			hb.Pass, hb.SlicesRead, hb.Slices = pass, read, slices
			activity.RecordHeartbeat(ctx, hb)
		},
		Checkpoint: func(state []byte, pass, read int) {
			key := results.AggregateCheckpointKey(in.RunID)
			if err := a.Store.Put(ctx, key, state); err != nil {
				log.Warn("aggregation checkpoint not stored; a retry reads more again", zap.Int("pass", pass), zap.Int("slices_read", read), zap.Error(err))
				return
			}
			hb.Checkpoint = key
			activity.RecordHeartbeat(ctx, hb)
		}})
	if err != nil {
		return AggregateResult{}, err
	}
	writes := []struct {
		key  string
		body []byte
	}{
		{results.TimeseriesJSONKey(in.RunID), final.TimeseriesJSON},
		{results.TimeseriesCSVKey(in.RunID), []byte(final.TimeseriesCSV)},
		{results.TableKey(in.RunID), []byte(final.Table)},
		{results.ResultKey(in.RunID), []byte(final.ResultJSON)},
	}
	for _, w := range writes {
		if err := a.Store.Put(ctx, w.key, w.body); err != nil {
			return AggregateResult{}, fmt.Errorf("store %s: %w", w.key, err)
		}
	}
	if _, err := report.Write(ctx, a.Store, in.RunID); err != nil {
		return AggregateResult{}, err
	}
	acc := final.Accounting
	return AggregateResult{ResultKey: results.ResultKey(in.RunID), Location: a.Store.Location(results.ResultKey(in.RunID)),
		Table: final.Table, Completed: acc.Completed, Failed: acc.Failed, Interrupted: acc.Interrupted}, nil
}

// aggregateCheckpoint returns the checkpoint an earlier attempt's heartbeat
// names (nil: none, or it cannot be read), and keeps naming it in hb.
func (a *Activities) aggregateCheckpoint(ctx context.Context, hb *AggregateProgress) []byte {
	var prev AggregateProgress
	if !activity.HasHeartbeatDetails(ctx) || activity.GetHeartbeatDetails(ctx, &prev) != nil || prev.Checkpoint == "" {
		return nil
	}
	b, err := a.Store.Get(ctx, prev.Checkpoint)
	if err != nil {
		a.Log.Warn("aggregation checkpoint not read; reading from the first slice", zap.String("key", prev.Checkpoint), zap.Error(err))
		return nil
	}
	hb.Checkpoint = prev.Checkpoint
	return b
}
