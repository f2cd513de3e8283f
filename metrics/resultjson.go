package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// RunInfo is the run's setup as vLLM records it in the saved JSON's header
// and uses for the table and the file name. Pointer fields are Python's
// None (JSON null) when nil.
type RunInfo struct {
	Date        string  // datetime.now().strftime("%Y%m%d-%H%M%S")
	Backend     string  // --backend; saved as endpoint_type and backend
	Label       *string // --label
	ModelID     string  // --model (or the server's first model root)
	TokenizerID *string // --tokenizer or the model; nil with --skip-tokenizer-init
	NumPrompts  int     // --num-prompts
	// Metadata are the --metadata KEY=VALUE items, split at the first '='
	// and stripped, in command-line order.
	Metadata       []KeyValue
	RequestRate    float64 // --request-rate; +Inf is saved as "inf"
	Burstiness     float64 // --burstiness
	MaxConcurrency *int    // --max-concurrency
	RampUp         *RampUp // --ramp-up-strategy with its start and end rates
	// RPSChangeEvents are recorded during a ramp-up run (saved when not empty).
	RPSChangeEvents []RPSChangeEvent
	// SpecDecode holds the speculative-decoding counters from the server's
	// /metrics, when it reported them.
	SpecDecode *SpecDecodeStats
}

// KeyValue is one --metadata item.
type KeyValue struct {
	Key, Value string
}

// RampUp is vLLM's --ramp-up-strategy, --ramp-up-start-rps, --ramp-up-end-rps.
type RampUp struct {
	Strategy string // linear | exponential
	StartRPS int
	EndRPS   int
}

// RPSChangeEvent is one entry of rps_change_events.
type RPSChangeEvent struct {
	RPS       int
	Timestamp string // Python datetime.isoformat()
}

// SpecDecodeStats are the speculative-decoding deltas over the run.
type SpecDecodeStats struct {
	NumDrafts                  int
	DraftTokens                int
	AcceptedTokens             int
	AcceptanceRate             float64 // percent
	AcceptanceLength           float64
	PerPositionAcceptanceRates []float64 // fractions
}

// ExtraField is a key the project appends after vLLM's keys; Value is raw
// JSON text written as given.
type ExtraField struct {
	Key   string
	Value string
}

// Extra renders v as the JSON value of an extra key. A value that cannot be
// marshalled (a NaN or infinite float64, say) is an error naming the key,
// never a broken file.
func Extra(key string, v any) (ExtraField, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ExtraField{}, fmt.Errorf("result key %s: %w", key, err)
	}
	return ExtraField{Key: key, Value: string(b)}, nil
}

// detailedKeys are the per-request arrays vLLM drops without --save-detailed.
var detailedKeys = []string{"input_lens", "output_lens", "start_times", "ttfts", "itls", "generated_texts", "errors"}

// ResultJSON renders the file vLLM writes with --save-result (json.dump of
// main_async's result_json, no trailing newline), followed by the extra
// fields. An extra key that vLLM already wrote replaces its value in place,
// as a Python dict would.
func ResultJSON(res Result, run RunInfo, extra ...ExtraField) string {
	d := newPyDict()
	d.setString("date", run.Date)
	d.setString("endpoint_type", run.Backend)
	d.setString("backend", run.Backend)
	d.set("label", nullableString(run.Label))
	d.setString("model_id", run.ModelID)
	d.set("tokenizer_id", nullableString(run.TokenizerID))
	d.setInt("num_prompts", run.NumPrompts)
	for _, kv := range run.Metadata {
		d.setString(kv.Key, kv.Value)
	}
	d.setFloat("request_rate", run.RequestRate) // +Inf: "inf", as vLLM writes it
	d.setFloat("burstiness", run.Burstiness)
	if run.MaxConcurrency != nil {
		d.setInt("max_concurrency", *run.MaxConcurrency)
	} else {
		d.set("max_concurrency", "null")
	}
	if r := run.RampUp; r != nil {
		d.setString("ramp_up_strategy", r.Strategy)
		d.setInt("ramp_up_start_rps", r.StartRPS)
		d.setInt("ramp_up_end_rps", r.EndRPS)
	}

	d.setFloat("duration", res.Duration)
	d.setInt("completed", res.Completed)
	d.setInt("failed", res.Failed)
	d.setInt("total_input_tokens", res.TotalInput)
	d.setInt("total_output_tokens", res.TotalOutput)
	d.setFloat("request_throughput", res.RequestThroughput)
	if res.HasGoodput {
		d.setFloat("request_goodput", res.RequestGoodput)
	} else {
		d.set("request_goodput", "null")
	}
	d.setFloat("output_throughput", res.OutputThroughput)
	d.setFloat("total_token_throughput", res.TotalTokenThroughput)
	if det := res.Details; det != nil {
		setDetails(d, det)
	}
	d.setFloat("max_output_tokens_per_s", res.MaxOutputTokensPerS)
	d.setInt("max_concurrent_requests", res.MaxConcurrentRequests)
	d.setFloat("rtfx", res.RTFx)
	if len(run.RPSChangeEvents) > 0 {
		d.set("rps_change_events", pyJSONList(len(run.RPSChangeEvents), func(i int) string {
			e := run.RPSChangeEvents[i]
			return fmt.Sprintf(`{"rps": %d, "timestamp": %s}`, e.RPS, pyJSONString(e.Timestamp))
		}))
	}
	if s := run.SpecDecode; s != nil {
		d.setFloat("spec_decode_acceptance_rate", s.AcceptanceRate)
		d.setFloat("spec_decode_acceptance_length", s.AcceptanceLength)
		d.setInt("spec_decode_num_drafts", s.NumDrafts)
		d.setInt("spec_decode_draft_tokens", s.DraftTokens)
		d.setInt("spec_decode_accepted_tokens", s.AcceptedTokens)
		d.set("spec_decode_per_position_acceptance_rates", floatList(s.PerPositionAcceptanceRates))
	}
	for _, m := range res.reportedMetrics() {
		d.setFloat("mean_"+m.name+"_ms", m.stats.Mean)
		d.setFloat("median_"+m.name+"_ms", m.stats.Median)
		d.setFloat("std_"+m.name+"_ms", m.stats.Std)
		for _, p := range m.stats.Percentiles {
			d.setFloat("p"+percentileWord(p.P)+"_"+m.name+"_ms", p.Value)
		}
	}

	if res.Details == nil {
		for _, k := range detailedKeys {
			d.delete(k)
		}
	}
	for _, f := range extra {
		d.set(f.Key, f.Value)
	}
	return d.text()
}

func setDetails(d *pyDict, det *Details) {
	d.set("input_lens", intList(det.InputLens))
	d.set("output_lens", intList(det.OutputLens))
	d.set("ttfts", floatList(det.TTFTs))
	d.set("itls", pyJSONList(len(det.ITLs), func(i int) string { return floatList(det.ITLs[i]) }))
	d.set("start_times", floatList(det.StartTimes))
	d.set("generated_texts", pyJSONList(len(det.GeneratedTexts), func(i int) string { return pyJSONString(det.GeneratedTexts[i]) }))
	d.set("errors", pyJSONList(len(det.Errors), func(i int) string { return pyJSONString(det.Errors[i]) }))
}

func nullableString(s *string) string {
	if s == nil {
		return "null"
	}
	return pyJSONString(*s)
}

func intList(a []int) string {
	return pyJSONList(len(a), func(i int) string { return strconv.Itoa(a[i]) })
}

func floatList(a []float64) string {
	return pyJSONList(len(a), func(i int) string { return pyJSONFloat(a[i]) })
}

// percentileWord is how vLLM names a percentile: "99" for 99.0, "99.9".
func percentileWord(p float64) string {
	if p == math.Trunc(p) && !math.IsInf(p, 0) {
		return strconv.FormatFloat(p, 'f', 0, 64)
	}
	return PyFloat(p)
}

type namedStats struct {
	name, title, header string
	stats               Stats
}

// reportedMetrics are the metric sections vLLM prints and saves, in its
// order: ttft, tpot and itl only with a tokenizer, each only when selected.
func (res Result) reportedMetrics() []namedStats {
	all := []namedStats{
		{MetricTTFT, "TTFT", "Time to First Token", res.TTFT},
		{MetricTPOT, "TPOT", "Time per Output Token (excl. 1st token)", res.TPOT},
		{MetricITL, "ITL", "Inter-token Latency", res.ITL},
		{MetricE2EL, "E2EL", "End-to-end Latency", res.E2EL},
	}
	var out []namedStats
	for _, m := range all {
		needsTokenizer := m.name != MetricE2EL
		if (res.HasTokenizer || !needsTokenizer) && slices.Contains(res.PercentileMetrics, m.name) {
			out = append(out, m)
		}
	}
	return out
}

// ResultFileName is vLLM's default result file name:
// {label or backend}-{rate}qps[-concurrency{N}]-{model basename}-{date}.json,
// or with ramp-up {label}-ramp-up-{strategy}-{start}qps-{end}qps[...]....
func ResultFileName(run RunInfo) string {
	label := run.Backend
	if run.Label != nil && *run.Label != "" {
		label = *run.Label
	}
	concurrency := ""
	if run.MaxConcurrency != nil {
		concurrency = "-concurrency" + strconv.Itoa(*run.MaxConcurrency)
	}
	model := run.ModelID[strings.LastIndex(run.ModelID, "/")+1:]
	if r := run.RampUp; r != nil {
		return fmt.Sprintf("%s-ramp-up-%s-%dqps-%dqps%s-%s-%s.json",
			label, r.Strategy, r.StartRPS, r.EndRPS, concurrency, model, run.Date)
	}
	return fmt.Sprintf("%s-%sqps%s-%s-%s.json", label, PyFloat(run.RequestRate), concurrency, model, run.Date)
}
