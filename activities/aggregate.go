package activities

import (
	"context"
	"encoding/json"

	"go.temporal.io/sdk/activity"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/report"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Aggregate reads every stored record of the run and writes result.json
// (vLLM's JSON for the whole run, with the run's accounting after vLLM's
// keys), result.txt (the table), and timeseries.json/.csv. The result is
// written last, after every part it was computed from.
func (a *Activities) Aggregate(ctx context.Context, in AggregateInput) (AggregateResult, error) {
	req := in.Request
	if in.Model != "" {
		req.Model = in.Model
	}
	plan, err := a.plan(ctx, req, req.ReplicaBaseURL(0))
	if err != nil {
		return AggregateResult{}, err
	}
	scheduled := 0
	for k := range in.NumSlices {
		scheduled += len(plan.SliceArrivals(k)) * in.Replicas
	}
	activity.RecordHeartbeat(ctx, "reading parts")
	out, err := engine.Aggregate(ctx, a.Store, in.RunID, engine.AggregateOptions{
		Request: plan.Request, Model: plan.Model, Tokenizer: plan.Tokenizer, Date: in.StartedAt, Scheduled: scheduled,
	})
	if err != nil {
		return AggregateResult{}, err
	}
	acc := engine.AccountingOf(out, plan.Tokenizer)
	acc.Partial, acc.Reason = in.Partial, in.Reason
	table := metrics.FormatReport(out.Result, out.Info) + engine.WarningLine(out.Health)
	ts, _ := json.MarshalIndent(out.Timeseries, "", "  ")
	writes := []struct {
		key  string
		body []byte
	}{
		{results.TimeseriesJSONKey(in.RunID), ts},
		{results.TimeseriesCSVKey(in.RunID), []byte(engine.TimeseriesCSV(out.Timeseries))},
		{results.TableKey(in.RunID), []byte(table)},
		{results.ResultKey(in.RunID), []byte(metrics.ResultJSON(out.Result, out.Info, engine.Extras(acc, &out.Health, out.GPU)...))},
	}
	for _, w := range writes {
		if err := a.Store.Put(ctx, w.key, w.body); err != nil {
			return AggregateResult{}, err
		}
	}
	if _, err := report.Write(ctx, a.Store, in.RunID); err != nil {
		return AggregateResult{}, err
	}
	return AggregateResult{ResultKey: results.ResultKey(in.RunID), Location: a.Store.Location(results.ResultKey(in.RunID)),
		Table: table, Completed: acc.Completed, Failed: acc.Failed, Interrupted: acc.Interrupted}, nil
}
