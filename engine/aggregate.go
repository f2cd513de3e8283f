package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Outcome is a whole run's result as vLLM computes it, plus the
// accounting of every scheduled request.
type Outcome struct {
	Result     metrics.Result
	Info       metrics.RunInfo
	Timeseries []SliceRow
	Duplicates int // records stored twice for one (replica, index); only the first counts
	Health     Health
	GPU        *RunGPUPower
	Scheduled  int // requests the run scheduled (all replicas)
	Missing    int // scheduled requests with no record (a stopped or partial run)
	Failures   Failures
}

// SliceRow is one line of the timeseries: one slice on one replica.
type SliceRow struct {
	Slice        int     `json:"slice"`
	Replica      int     `json:"replica"`
	Requests     int     `json:"requests"`
	Completed    int     `json:"completed"`
	Failed       int     `json:"failed"`
	Interrupted  int     `json:"interrupted"`
	TTFTP50      float64 `json:"ttft_p50_ms"`
	TTFTP99      float64 `json:"ttft_p99_ms"`
	ITLP50       float64 `json:"itl_p50_ms"`
	ITLP99       float64 `json:"itl_p99_ms"`
	E2ELP50      float64 `json:"e2el_p50_ms"`
	OutputTokens int     `json:"output_tokens"`
	OutputTokS   float64 `json:"output_tokens_per_s"`
	RequestS     float64 `json:"requests_per_s"`
	LatenessP99  float64 `json:"send_lateness_p99_ms"`
	// The server's own /metrics over the slice, when it serves them.
	*ServerMetrics
	// GPU is the slice's GPU power, every host's and replica's, on the
	// slice's first row.
	GPU *GPUPower `json:"gpu,omitempty"`
}

// AggregateOptions describe the run being aggregated.
type AggregateOptions struct {
	Request   config.Request
	Model     string
	Tokenizer datasets.Tokenizer // nil: vLLM's --skip-tokenizer-init rules
	Date      time.Time
	// Scheduled is how many requests the run scheduled over all replicas
	// (0: unknown).
	Scheduled int
	// Progress is told after each slice is read (heartbeats), in which
	// pass over the run (from 1).
	Progress func(pass, slicesRead, slices int)
	// Resume is a checkpoint that an earlier, cut-off aggregation of the
	// same run with the same options saved: reading goes on after the
	// slices it holds. nil (or unreadable): from the first slice.
	Resume []byte
	// Checkpoint, when set, is given a checkpoint after a slice whenever
	// CheckpointEvery has passed since the start or the last one.
	Checkpoint      func(state []byte, pass, slicesRead int)
	CheckpointEvery time.Duration
}

// aggState is what an aggregation has computed from the slices it has
// read; a checkpoint saves it with the accumulator's numbers. Pass 1
// computes all of it; later passes (the exact ITL statistics) only feed
// the accumulator again.
type aggState struct {
	// Units are the run's objects, listed once: every pass, and a resumed
	// aggregation, read these and no object stored since.
	Units      []results.Unit
	Pass       int // from 1
	SlicesRead int // in this pass, every unit of a lower slice is in
	// Send lateness and queueing are the client's self-check: percentiles
	// within 1% in constant memory, whatever the run's length.
	Lateness, Queued    metrics.Histogram
	FirstSend, LastSend float64
	CPUUtil, Duration   float64
	Stored, Replicas    int
	Duplicates          int
	Failures            failureCounter
	GPU                 gpuRun
	Timeseries          []SliceRow
}

// readAheadBytes bounds the decoded units an aggregation holds ahead of the
// one it uses: about 12 of them (3,600 records each) with 128-token outputs,
// 1 with 1024.
const readAheadBytes = 64 << 20

// decodedBytes is about what records take in memory.
func decodedBytes(recs []metrics.Record) int64 {
	n := int64(len(recs)) * int64(unsafe.Sizeof(metrics.Record{}))
	for i := range recs {
		r := &recs[i]
		n += int64(8*cap(r.ITL) + len(r.RequestID) + len(r.Error) + len(r.GeneratedText))
	}
	return n
}

// addRecords takes a slice's records, in dispatch order, in pass 1.
func (st *aggState) addRecords(recs []metrics.Record) {
	for _, rec := range recs {
		st.Duration = max(st.Duration, rec.StartTime+rec.Latency)
		if rec.Status != metrics.StatusInterrupted {
			st.Lateness.Add(rec.Lateness)
			st.Queued.Add(rec.QueueTime)
			sent := rec.ScheduledAt + rec.Lateness
			st.FirstSend, st.LastSend = min(st.FirstSend, sent), max(st.LastSend, sent)
		}
	}
	st.Stored += len(recs)
}

type checkpoint struct {
	State       aggState
	Accumulator []byte
}

func encodeCheckpoint(st *aggState, acc *metrics.Accumulator) ([]byte, error) {
	a, err := acc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = gob.NewEncoder(&b).Encode(checkpoint{State: *st, Accumulator: a})
	return b.Bytes(), err
}

func decodeCheckpoint(data []byte, acc *metrics.Accumulator) (aggState, error) {
	var c checkpoint
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&c); err != nil {
		return aggState{}, fmt.Errorf("aggregation checkpoint: %w", err)
	}
	if err := acc.UnmarshalBinary(c.Accumulator); err != nil {
		return aggState{}, fmt.Errorf("aggregation checkpoint: %w", err)
	}
	return c.State, nil
}

// MetricsOptions are the vLLM metric settings of a request.
func MetricsOptions(req config.Request, tok datasets.Tokenizer) metrics.Options {
	opts := metrics.Options{
		PercentileMetrics: req.PercentileMetrics, Percentiles: req.Percentiles(),
		Goodput: req.GoodputSLOs(), SaveDetailed: req.SaveDetailed,
	}
	if tok != nil {
		opts.OutputTokens = func(text string) int {
			ids, err := tok.Encode(text, false)
			if err != nil {
				return 0
			}
			return len(ids)
		}
	}
	return opts
}

// RunInfo is the header of vLLM's result JSON for a request.
func RunInfo(req config.Request, model string, tok datasets.Tokenizer, date time.Time, numPrompts int) metrics.RunInfo {
	info := metrics.RunInfo{
		Date: date.Format("20060102-150405"), Backend: req.Backend, ModelID: model,
		NumPrompts: numPrompts, RequestRate: float64(*req.RequestRate), Burstiness: *req.Burstiness,
	}
	if req.Label != "" {
		label := req.Label
		info.Label = &label
	}
	if tok != nil {
		id := model
		if req.Tokenizer != "" {
			id = req.Tokenizer
		}
		info.TokenizerID = &id
	}
	for _, kv := range req.MetadataPairs() {
		info.Metadata = append(info.Metadata, metrics.KeyValue{Key: kv[0], Value: kv[1]})
	}
	if req.MaxConcurrency > 0 {
		mc := req.MaxConcurrency
		info.MaxConcurrency = &mc
	}
	if req.RampUpStrategy != "" {
		info.RampUp = &metrics.RampUp{Strategy: req.RampUpStrategy, StartRPS: int(req.RampUpStartRPS), EndRPS: int(req.RampUpEndRPS)}
	}
	return info
}

// Aggregate reads every stored record of a run (ReadUnit's rule, units read
// concurrently) and computes the whole-run metrics (records fed in dispatch
// order: index, then replica) and the per-slice timeseries. Slices hold
// disjoint index ranges, so only a window of units is in memory at a time,
// beside the accumulator's compact numbers. The exact ITL statistics take
// the accumulator's later passes: each reads the run again.
func Aggregate(ctx context.Context, store results.Store, runID string, o AggregateOptions) (*Outcome, error) {
	mopts := MetricsOptions(o.Request, o.Tokenizer)
	out := &Outcome{Scheduled: o.Scheduled}
	acc := metrics.NewAccumulator(mopts)
	st := aggState{Pass: 1, FirstSend: math.Inf(1), LastSend: math.Inf(-1)}
	resumed := false
	if o.Resume != nil {
		// A checkpoint that cannot be read is set aside (the accumulator is
		// left empty): reading starts over.
		if saved, err := decodeCheckpoint(o.Resume, acc); err == nil {
			st, resumed = saved, true
		}
	}
	var slice []metrics.Record
	flushSlice := func() {
		slices.SortFunc(slice, func(a, b metrics.Record) int {
			return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Replica, b.Replica))
		})
		for _, rec := range slice {
			acc.Add(rec)
		}
		if st.Pass == 1 {
			st.addRecords(slice)
		}
		slice = slice[:0]
	}
	if st.Units == nil {
		units, err := results.ListUnits(ctx, store, runID)
		if err != nil {
			return nil, err
		}
		st.Units = units
	}
	numSlices := 0
	if n := len(st.Units); n > 0 {
		numSlices = st.Units[n-1].Slice + 1
	}
	type unitData struct {
		*UnitRecords
		gpu *GPUPower
	}
	read := func(ctx context.Context, u results.Unit) (unitData, error) {
		ur, err := ReadUnit(ctx, store, u)
		if err != nil {
			return unitData{}, err
		}
		d := unitData{UnitRecords: ur}
		if u.Replica == 0 && st.Pass == 1 {
			d.gpu = readJSON[GPUPower](ctx, store, results.SliceGPUKey(runID, u.Slice))
			if d.gpu == nil {
				d.gpu = &GPUPower{Note: "not measured: the slice stored no GPU figures"}
			}
		}
		return d, nil
	}
	sliceNo := -1
	var sliceGPU *GPUPower // until a row of the slice carries it
	lastCheckpoint := time.Now()
	endSlice := func(next int) {
		flushSlice()
		if sliceNo < 0 {
			return
		}
		st.SlicesRead = next
		if o.Progress != nil {
			o.Progress(st.Pass, sliceNo+1, numSlices)
		}
		if o.Checkpoint != nil && next < numSlices && time.Since(lastCheckpoint) >= o.CheckpointEvery {
			if b, err := encodeCheckpoint(&st, acc); err == nil {
				o.Checkpoint(b, st.Pass, next)
			}
			lastCheckpoint = time.Now()
		}
	}
	toSlice := func(k int) {
		if k != sliceNo {
			endSlice(k)
			sliceNo, sliceGPU = k, nil
		}
	}
	readAgain := func(_ int, u unitData) error {
		toSlice(u.Slice)
		slice = append(slice, u.Records...)
		return nil
	}
	readFirst := func(_ int, u unitData) error {
		toSlice(u.Slice)
		st.Duplicates += u.Duplicates
		if u.gpu != nil {
			st.GPU.add(u.gpu)
			sliceGPU = u.gpu
		}
		for i := range u.Records {
			rec := &u.Records[i]
			if rec.Success && rec.OutputTokens == 0 && mopts.OutputTokens != nil {
				rec.OutputTokens = mopts.OutputTokens(rec.GeneratedText)
			}
			if !o.Request.SaveDetailed {
				rec.GeneratedText = ""
			}
		}
		if len(u.Records) > 0 {
			st.Failures.addUnit(u.Slice, u.Replica, u.Records)
			row := sliceRow(u.Slice, u.Replica, u.Records, o.Request.SliceSeconds, mopts)
			if c := u.Compaction; c != nil {
				if c.Server != nil && c.Server.Samples > 0 {
					row.ServerMetrics = c.Server
				}
				if cs := c.Client; cs != nil && cs.Duration > 0 {
					st.CPUUtil = max(st.CPUUtil, cs.CPUSeconds/cs.Duration)
				}
			}
			row.GPU, sliceGPU = sliceGPU, nil
			st.Timeseries = append(st.Timeseries, row)
			st.Replicas = max(st.Replicas, u.Replica+1)
		}
		slice = append(slice, u.Records...)
		return nil
	}
	for {
		units := slices.DeleteFunc(slices.Clone(st.Units), func(u results.Unit) bool { return u.Slice < st.SlicesRead })
		consume := readFirst
		if st.Pass > 1 {
			consume = readAgain
		}
		err := results.FetchOrderedWithin(ctx, fetchConcurrency, readAheadBytes, func(u unitData) int64 { return decodedBytes(u.Records) },
			units, read, consume)
		if err != nil {
			return nil, err
		}
		endSlice(numSlices)
		if !acc.NextPass() {
			if err := acc.Err(); err != nil {
				if resumed {
					// The checkpoint holds records the store no longer has.
					o.Resume = nil
					return Aggregate(ctx, store, runID, o)
				}
				return nil, fmt.Errorf("aggregate %s: %w", runID, err)
			}
			break
		}
		st.Pass, st.SlicesRead, sliceNo = st.Pass+1, 0, -1
	}
	out.Result = acc.Result(st.Duration)
	out.Failures = st.Failures.result()
	out.GPU = st.GPU.result()
	out.Timeseries, out.Duplicates = st.Timeseries, st.Duplicates
	if o.Scheduled > 0 {
		out.Missing = o.Scheduled - st.Stored
	}
	out.Info = RunInfo(o.Request, o.Model, o.Tokenizer, o.Date, max(o.Scheduled, st.Stored))
	out.Health = Health{ClientCPUUtil: st.CPUUtil}
	if st.Replicas > 0 {
		out.Health.RequestedRate = *o.Request.RequestRate * config.Rate(st.Replicas)
	}
	if n := st.Lateness.Count; n > 0 {
		out.Health.LatenessP50Ms = st.Lateness.Quantile(0.50) * 1000
		out.Health.LatenessP99Ms = st.Lateness.Quantile(0.99) * 1000
		out.Health.LatenessMaxMs = st.Lateness.Max * 1000
		out.Health.QueueTimeP50Ms = st.Queued.Quantile(0.50) * 1000
		out.Health.QueueTimeP99Ms = st.Queued.Quantile(0.99) * 1000
		if n > 1 && st.LastSend > st.FirstSend {
			out.Health.AchievedRate = float64(n-1) / (st.LastSend - st.FirstSend)
		}
	}
	out.Health.Warning = HealthWarning(out.Health)
	return out, nil
}

func sliceRow(slice, replica int, recs []metrics.Record, sliceSeconds float64, mopts metrics.Options) SliceRow {
	mopts.Percentiles = []float64{50, 99}
	mopts.PercentileMetrics = []string{metrics.MetricTTFT, metrics.MetricITL, metrics.MetricE2EL}
	mopts.SaveDetailed = false
	res := metrics.Calculate(recs, sliceSeconds, mopts) // recs are in index order
	late := make([]float64, 0, len(recs))
	for _, r := range recs {
		if r.Status != metrics.StatusInterrupted {
			late = append(late, r.Lateness)
		}
	}
	slices.Sort(late)
	row := SliceRow{Slice: slice, Replica: replica, Requests: len(recs),
		Completed: res.Statuses.Completed, Failed: res.Statuses.Failed, Interrupted: res.Statuses.Interrupted,
		TTFTP50: pct(res.TTFT, 0), TTFTP99: pct(res.TTFT, 1), ITLP50: pct(res.ITL, 0), ITLP99: pct(res.ITL, 1),
		E2ELP50: pct(res.E2EL, 0), OutputTokens: res.TotalOutput, OutputTokS: res.OutputThroughput,
		RequestS: res.RequestThroughput}
	if n := len(late); n > 0 {
		row.LatenessP99 = late[min(n-1, n*99/100)] * 1000
	}
	return row
}

// ClientStats are the load generator's own figures for one slice and
// replica.
type ClientStats struct {
	Sent       int     `json:"sent"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Duration   float64 `json:"duration_seconds"`
}

func readJSON[T any](ctx context.Context, store results.Store, key string) *T {
	b, err := store.Get(ctx, key)
	if err != nil {
		return nil
	}
	var v T
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return &v
}

func pct(s metrics.Stats, i int) float64 {
	if i < len(s.Percentiles) {
		return s.Percentiles[i].Value
	}
	return 0
}

// Health is the generator's self-check, saved after vLLM's keys.
type Health struct {
	LatenessP50Ms float64     `json:"send_lateness_p50_ms"`
	LatenessP99Ms float64     `json:"send_lateness_p99_ms"`
	LatenessMaxMs float64     `json:"send_lateness_max_ms"`
	RequestedRate config.Rate `json:"requested_rate"` // "inf" when unlimited, as vLLM writes request_rate
	AchievedRate  float64     `json:"achieved_send_rate"`
	ClientCPUUtil float64     `json:"client_cpu_utilisation"`
	// Time requests waited for a max_concurrency slot (never part of TTFT).
	QueueTimeP50Ms float64 `json:"queue_time_p50_ms"`
	QueueTimeP99Ms float64 `json:"queue_time_p99_ms"`
	Warning        string  `json:"warning,omitempty"`
}

// Accounting says what happened to every scheduled request.
type Accounting struct {
	Scheduled   int    `json:"scheduled"`
	Completed   int    `json:"completed"`
	Failed      int    `json:"failed"`
	Interrupted int    `json:"interrupted"`
	NotRun      int    `json:"not_run"`
	Duplicates  int    `json:"duplicates_dropped"`
	Tokenizer   string `json:"tokenizer,omitempty"`
	Partial     bool   `json:"partial,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Extras are the project's keys after vLLM's in result.json; a value that
// cannot be written is an error, never a hole in the file.
func Extras(acc Accounting, health *Health, gpu *RunGPUPower, failures *Failures) ([]metrics.ExtraField, error) {
	keys := []struct {
		key string
		v   any
		set bool
	}{
		{"run_accounting", acc, true},
		{"failures", failures, failures != nil},
		{"client_health", health, health != nil},
		{"gpu_power", gpu, gpu != nil},
	}
	var out []metrics.ExtraField
	for _, k := range keys {
		if !k.set {
			continue
		}
		f, err := metrics.Extra(k.key, k.v)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// AccountingOf fills an Accounting from an outcome.
func AccountingOf(out *Outcome, tok datasets.Tokenizer) Accounting {
	a := Accounting{Scheduled: out.Scheduled, Completed: out.Result.Statuses.Completed,
		Failed: out.Result.Statuses.Failed, Interrupted: out.Result.Statuses.Interrupted,
		NotRun: max(out.Missing, 0), Duplicates: out.Duplicates}
	if tok != nil {
		a.Tokenizer = tok.Name()
	}
	return a
}

// HealthWarning is the self-check's verdict: non-empty when the client, not
// the server, may have limited the run.
func HealthWarning(h Health) string {
	switch {
	case h.LatenessP99Ms > 5:
		return fmt.Sprintf("send lateness p99 %.1f ms exceeds 5 ms: the load generator fell behind its schedule; its numbers may reflect the client, not the server", h.LatenessP99Ms)
	case h.ClientCPUUtil > 0.9:
		return fmt.Sprintf("client CPU %.0f%% of a core: the load generator was saturated; its numbers may reflect the client, not the server", h.ClientCPUUtil*100)
	}
	return ""
}

// TimeseriesCSV renders the timeseries as CSV, one row per slice and replica.
func TimeseriesCSV(rows []SliceRow) string {
	var b strings.Builder
	b.WriteString("slice,replica,requests,completed,failed,interrupted,ttft_p50_ms,ttft_p99_ms,itl_p50_ms,itl_p99_ms,e2el_p50_ms," +
		"output_tokens,output_tokens_per_s,requests_per_s,send_lateness_p99_ms," +
		"server_running,server_waiting,server_waiting_max,kv_cache_usage,kv_cache_usage_max,preemptions,server_prompt_tokens,server_generation_tokens\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%.3f,%.3f,%.3f", r.Slice, r.Replica, r.Requests,
			r.Completed, r.Failed, r.Interrupted, r.TTFTP50, r.TTFTP99, r.ITLP50, r.ITLP99, r.E2ELP50,
			r.OutputTokens, r.OutputTokS, r.RequestS, r.LatenessP99)
		if m := r.ServerMetrics; m != nil {
			fmt.Fprintf(&b, ",%.3f,%.3f,%.0f,%.4f,%.4f,%.0f,%.0f,%.0f\n", m.RunningMean, m.WaitingMean, m.WaitingMax,
				m.KVCacheUsageMean, m.KVCacheUsageMax, m.Preemptions, m.PromptTokens, m.GenerationTokens)
		} else {
			b.WriteString(",,,,,,,,\n")
		}
	}
	return b.String()
}

// WarningLine is the self-check's line under the table ("" when healthy).
func WarningLine(h Health) string {
	if h.Warning == "" {
		return ""
	}
	return "WARNING: " + h.Warning + "\n"
}
