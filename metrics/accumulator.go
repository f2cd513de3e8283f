package metrics

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Metric names as vLLM's --percentile-metrics and --goodput spell them.
const (
	MetricTTFT = "ttft"
	MetricTPOT = "tpot"
	MetricITL  = "itl"
	MetricE2EL = "e2el"
)

// maxPrintedErrors is how many failure messages vLLM prints before the table.
const maxPrintedErrors = 10

// Options are the vLLM flags that shape the metrics, table and saved JSON.
type Options struct {
	// PercentileMetrics is --percentile-metrics; nil means ttft,tpot,itl.
	PercentileMetrics []string
	// Percentiles is --metric-percentiles; nil means [99].
	Percentiles []float64
	// Goodput holds the --goodput SLOs in milliseconds keyed by ttft, tpot,
	// e2el; nil or empty means no goodput.
	Goodput map[string]float64
	// OutputTokens counts the tokens of a generated text (tokenizer, no
	// special tokens). It is used when a successful record has no
	// output_tokens. nil means vLLM runs without a tokenizer
	// (--skip-tokenizer-init): such records count 1 token and the token rows
	// and ttft/tpot/itl sections are left out of the table and JSON.
	OutputTokens func(generatedText string) int
	// SaveDetailed keeps the per-request arrays of --save-detailed.
	SaveDetailed bool
	// MaxDistinct bounds the distinct ITL values held at once while a pass
	// looks for the exact ITL percentiles; fewer held means more passes.
	// 0 means DefaultMaxDistinct.
	MaxDistinct int
}

func (o Options) withDefaults() Options {
	if o.PercentileMetrics == nil {
		o.PercentileMetrics = []string{MetricTTFT, MetricTPOT, MetricITL}
	}
	if o.Percentiles == nil {
		o.Percentiles = []float64{99}
	}
	if o.MaxDistinct <= 0 {
		o.MaxDistinct = DefaultMaxDistinct
	}
	return o
}

// StatusCounts splits the requests by how they ended.
type StatusCounts struct {
	Completed   int `json:"completed"`
	Failed      int `json:"failed"`
	Interrupted int `json:"interrupted"`
}

// PercentileValue is one (percentile, value) pair of vLLM's percentiles_*_ms.
type PercentileValue struct {
	P     float64 `json:"p"`
	Value float64 `json:"value"`
}

// Stats are one metric's statistics in milliseconds.
type Stats struct {
	Mean        float64           `json:"mean_ms"`
	Median      float64           `json:"median_ms"`
	Std         float64           `json:"std_ms"`
	Percentiles []PercentileValue `json:"percentiles_ms"`
}

// Details are the per-request arrays vLLM saves with --save-detailed, one
// entry per request in dispatch order.
type Details struct {
	InputLens      []int       `json:"input_lens"`
	OutputLens     []int       `json:"output_lens"`
	TTFTs          []float64   `json:"ttfts"`
	ITLs           [][]float64 `json:"itls"`
	StartTimes     []float64   `json:"start_times"`
	GeneratedTexts []string    `json:"generated_texts"`
	Errors         []string    `json:"errors"`
}

// Result is vLLM's calculate_metrics result plus what the table and JSON
// need to be rendered.
type Result struct {
	Duration              float64 `json:"duration"`
	Completed             int     `json:"completed"` // successful requests
	Failed                int     `json:"failed"`    // unsuccessful requests, interrupted included
	TotalInput            int     `json:"total_input"`
	TotalOutput           int     `json:"total_output"`
	RequestThroughput     float64 `json:"request_throughput"`
	RequestGoodput        float64 `json:"request_goodput"` // 0 without goodput SLOs
	OutputThroughput      float64 `json:"output_throughput"`
	TotalTokenThroughput  float64 `json:"total_token_throughput"`
	TTFT                  Stats   `json:"ttft"`
	TPOT                  Stats   `json:"tpot"`
	ITL                   Stats   `json:"itl"`
	E2EL                  Stats   `json:"e2el"`
	MaxOutputTokensPerS   float64 `json:"max_output_tokens_per_s"`
	MaxConcurrentRequests int     `json:"max_concurrent_requests"`
	RTFx                  float64 `json:"rtfx"`

	// Statuses counts the records by Status (not part of vLLM's numbers).
	Statuses StatusCounts `json:"statuses"`
	// Errors are the error texts of the first 10 unsuccessful requests.
	Errors []string `json:"errors"`
	// ErrorCounts are every unsuccessful request's error text with its
	// count, most frequent first (not part of vLLM's numbers).
	ErrorCounts       []ErrorCount `json:"error_counts,omitempty"`
	PercentileMetrics []string     `json:"percentile_metrics"`
	HasTokenizer      bool         `json:"has_tokenizer"`
	HasGoodput        bool         `json:"has_goodput"`
	Details           *Details     `json:"details,omitempty"` // only with Options.SaveDetailed
}

// Accumulator computes vLLM's metrics from records added one at a time, in
// dispatch order, in passes: after the first, the same records are added
// again, in the same order, while NextPass asks for it. It holds per
// successful request its TTFT, TPOT and latency, and of the ITL gaps (too
// many to hold) what each pass needs: exact sums and counts.
type Accumulator struct {
	opts Options
	pass int // passes ended
	done bool
	// What the current later pass has seen, to check it against pass 1.
	againRequests, againGaps int
	err                      error
	statuses                 StatusCounts
	failed                   int
	good                     int

	totalInput  int
	totalOutput int

	// Per successful request, in order.
	ttfts     series[float64]
	latencies series[float64]
	tpots     series[float64]
	itl       streamStats

	// The span of the successful requests (pass 1), and per second of it
	// the stream events and the change in active requests (pass 2).
	t0, tEnd           float64
	tokens, activeDiff []int

	errors     []string
	errorCount map[string]int // failures by error text, at most maxErrorKinds texts
	details    *Details
}

// maxErrorKinds bounds the distinct error texts counted; later new texts
// are counted under OtherErrors.
const maxErrorKinds = 1000

// OtherErrors is the reason under which failures are counted once
// maxErrorKinds distinct error texts have been seen.
const OtherErrors = "(other errors)"

// ErrorCount is how many requests failed with one error text.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

// NewAccumulator returns an empty accumulator.
func NewAccumulator(opts Options) *Accumulator {
	a := &Accumulator{opts: opts.withDefaults(), errorCount: map[string]int{}}
	a.itl.maxDistinct = a.opts.MaxDistinct
	if opts.SaveDetailed {
		a.details = &Details{}
	}
	return a
}

// Add folds one record in. Records must be added in dispatch order, and
// in every pass in the same order.
func (a *Accumulator) Add(r Record) {
	success := r.Success && r.Status != StatusInterrupted
	if a.pass > 0 {
		if success {
			a.addAgain(r)
		}
		return
	}
	switch {
	case r.Status == StatusInterrupted:
		a.statuses.Interrupted++
	case success:
		a.statuses.Completed++
	default:
		a.statuses.Failed++
	}

	outputLen := 0
	if success {
		outputLen = a.outputTokens(r)
		a.addSuccess(r, outputLen)
	} else {
		a.failed++
		if len(a.errors) < maxPrintedErrors {
			a.errors = append(a.errors, r.Error)
		}
		reason := r.Error
		if _, seen := a.errorCount[reason]; !seen && len(a.errorCount) >= maxErrorKinds {
			reason = OtherErrors
		}
		a.errorCount[reason]++
	}

	if d := a.details; d != nil {
		d.InputLens = append(d.InputLens, r.PromptLen)
		d.OutputLens = append(d.OutputLens, outputLen)
		d.TTFTs = append(d.TTFTs, r.TTFT)
		d.ITLs = append(d.ITLs, slices.Clone(r.ITL))
		d.StartTimes = append(d.StartTimes, r.StartTime)
		d.GeneratedTexts = append(d.GeneratedTexts, r.GeneratedText)
		d.Errors = append(d.Errors, r.Error)
	}
}

// outputTokens is vLLM's rule: the server's count, else the tokenizer's count
// of the text, else (no tokenizer) 1.
func (a *Accumulator) outputTokens(r Record) int {
	if r.OutputTokens != 0 {
		return r.OutputTokens
	}
	if a.opts.OutputTokens == nil {
		return 1
	}
	return a.opts.OutputTokens(r.GeneratedText)
}

func (a *Accumulator) addSuccess(r Record, outputLen int) {
	a.totalInput += r.PromptLen
	a.totalOutput += outputLen
	tpot := 0.0 // requests with <= 1 token count as tpot 0 for goodput
	if outputLen > 1 {
		tpot = (r.Latency - r.TTFT) / float64(outputLen-1)
		a.tpots.add(tpot)
	}
	if a.ttfts.n == 0 {
		a.t0, a.tEnd = r.StartTime, r.StartTime+r.Latency
	}
	a.t0, a.tEnd = min(a.t0, r.StartTime), max(a.tEnd, r.StartTime+r.Latency)
	a.ttfts.add(r.TTFT)
	a.latencies.add(r.Latency)
	for _, gap := range r.ITL {
		a.itl.add(gap)
	}
	if a.meetsSLOs(r.TTFT, tpot, r.Latency) {
		a.good++
	}
}

// meetsSLOs: a request is good when every given SLO (ms) is >= its value.
func (a *Accumulator) meetsSLOs(ttft, tpot, e2el float64) bool {
	slos := a.opts.Goodput
	if len(slos) == 0 {
		return false
	}
	within := func(name string, value float64) bool {
		slo, ok := slos[name]
		return !ok || slo/1000 >= value
	}
	return within(MetricTTFT, ttft) && within(MetricTPOT, tpot) && within(MetricE2EL, e2el)
}

// NextPass ends a pass over the records. It reports whether another is
// needed; once it reports false, Result may be called.
func (a *Accumulator) NextPass() bool {
	if a.done {
		return false
	}
	if a.pass > 0 && (a.againRequests != a.statuses.Completed || a.againGaps != a.itl.n) {
		a.err = fmt.Errorf("metrics: pass %d read %d successful requests with %d ITL gaps, pass 1 %d with %d: the records changed between passes",
			a.pass+1, a.againRequests, a.againGaps, a.statuses.Completed, a.itl.n)
		a.done = true
		return false
	}
	a.againRequests, a.againGaps = 0, 0
	if a.pass == 0 && a.ttfts.n > 0 {
		nsec := int(math.Ceil(a.tEnd-a.t0)) + 1
		a.tokens, a.activeDiff = make([]int, nsec), make([]int, nsec+1)
	}
	more := a.itl.endPass(a.opts.Percentiles)
	more = more || (a.pass == 0 && a.ttfts.n > 0)
	a.pass++
	a.done = !more
	return more
}

// addAgain takes a successful request in a later pass: pass 2 counts its
// stream events and activity per second; every later pass reads its gaps.
func (a *Accumulator) addAgain(r Record) {
	a.againRequests++
	a.againGaps += len(r.ITL)
	if a.pass == 1 {
		a.countPeaks(r)
	}
	if len(a.itl.open) > 0 || a.itl.passes == 1 {
		for _, gap := range r.ITL {
			a.itl.add(gap)
		}
	}
}

// countPeaks is vLLM v0.11-v0.20's per-second peaks: the stream events whose
// time falls in each one-second bucket from the first start, and the
// requests active in each (a request counts in every bucket from its
// start's to its end's, inclusive).
func (a *Accumulator) countPeaks(r Record) {
	nsec := len(a.tokens)
	countToken := func(ts float64) {
		// Python's int() truncates toward zero, so (-1, 0) lands in bucket 0.
		if b := ts - a.t0; b > -1 && b < float64(nsec) {
			a.tokens[int(b)]++
		}
	}
	ts := r.StartTime + r.TTFT
	countToken(ts)
	for _, gap := range r.ITL {
		ts += gap
		countToken(ts)
	}
	first, last := r.StartTime-a.t0, (r.StartTime+r.Latency)-a.t0
	if first > -1 && last < float64(nsec) && int(last) >= int(first) {
		a.activeDiff[int(first)]++
		a.activeDiff[int(last)+1]--
	}
}

// Err says why the passes stopped early: a later pass was not given the
// records of the first. Result is then not to be used.
func (a *Accumulator) Err() error { return a.err }

// Result computes the metrics for a benchmark that lasted duration seconds,
// once NextPass has reported false.
func (a *Accumulator) Result(duration float64) Result {
	if !a.done {
		panic("metrics: Result before NextPass reported the last pass")
	}
	completed := a.statuses.Completed
	ttfts, latencies := a.ttfts.flat(), a.latencies.flat()
	// A run that sent nothing lasted 0 s; its rates are 0, not 0/0.
	// (vLLM's duration is never 0: it always sends at least one request.)
	perSecond := func(n int) float64 {
		if duration <= 0 {
			return 0
		}
		return float64(n) / duration
	}
	res := Result{
		Duration:             duration,
		Completed:            completed,
		Failed:               a.failed,
		TotalInput:           a.totalInput,
		TotalOutput:          a.totalOutput,
		RequestThroughput:    perSecond(completed),
		RequestGoodput:       perSecond(a.good),
		OutputThroughput:     perSecond(a.totalOutput),
		TotalTokenThroughput: perSecond(a.totalInput + a.totalOutput),
		RTFx:                 0, // input audio duration is always 0 for text prompts
		Statuses:             a.statuses,
		Errors:               slices.Clone(a.errors),
		ErrorCounts:          a.errorCounts(),
		PercentileMetrics:    slices.Clone(a.opts.PercentileMetrics),
		HasTokenizer:         a.opts.OutputTokens != nil,
		HasGoodput:           len(a.opts.Goodput) > 0,
	}
	res.Details = a.details
	active := 0
	for sec, tokens := range a.tokens {
		res.MaxOutputTokensPerS = max(res.MaxOutputTokensPerS, float64(tokens))
		active += a.activeDiff[sec]
		res.MaxConcurrentRequests = max(res.MaxConcurrentRequests, active)
	}
	res.TTFT = describeMs(ttfts, a.opts.Percentiles)
	res.TPOT = describeMs(a.tpots.flat(), a.opts.Percentiles)
	res.ITL = a.itl.describe(a.opts.Percentiles)
	res.E2EL = describeMs(latencies, a.opts.Percentiles)
	return res
}

// stateVersion changes whenever accumulatorState does: a checkpoint saved
// by another version is refused, never misread.
const stateVersion = 3

// accumulatorState is what an Accumulator holds beside its options.
type accumulatorState struct {
	Version, Pass                       int
	Done                                bool
	AgainRequests, AgainGaps            int
	Statuses                            StatusCounts
	Failed, Good, TotalInput, TotalOuts int
	TTFTs, Latencies, TPOTs             []float64
	ITL                                 streamState
	T0, TEnd                            float64
	Tokens, ActiveDiff                  []int
	Errors                              []string
	ErrorCount                          map[string]int
	Details                             *Details
}

// MarshalBinary saves what the accumulator holds (not its options), so that
// an aggregation cut off midway can go on from it.
func (a *Accumulator) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(accumulatorState{
		Version: stateVersion, Pass: a.pass, Done: a.done, AgainRequests: a.againRequests, AgainGaps: a.againGaps,
		Statuses: a.statuses, Failed: a.failed, Good: a.good, TotalInput: a.totalInput, TotalOuts: a.totalOutput,
		TTFTs: a.ttfts.flat(), Latencies: a.latencies.flat(), TPOTs: a.tpots.flat(), ITL: a.itl.state(),
		T0: a.t0, TEnd: a.tEnd, Tokens: a.tokens, ActiveDiff: a.activeDiff,
		Errors: a.errors, ErrorCount: a.errorCount, Details: a.details,
	})
	return b.Bytes(), err
}

// UnmarshalBinary restores what MarshalBinary saved into an accumulator
// made by NewAccumulator with the same options.
func (a *Accumulator) UnmarshalBinary(data []byte) error {
	var st accumulatorState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		return err
	}
	if st.Version != stateVersion {
		return fmt.Errorf("metrics: accumulator state of version %d, this build reads %d", st.Version, stateVersion)
	}
	a.pass, a.done, a.againRequests, a.againGaps = st.Pass, st.Done, st.AgainRequests, st.AgainGaps
	a.statuses, a.failed, a.good, a.totalInput, a.totalOutput = st.Statuses, st.Failed, st.Good, st.TotalInput, st.TotalOuts
	a.ttfts, a.latencies, a.tpots = series[float64]{}, series[float64]{}, series[float64]{}
	a.ttfts.add(st.TTFTs...)
	a.latencies.add(st.Latencies...)
	a.tpots.add(st.TPOTs...)
	a.itl.restore(st.ITL)
	a.t0, a.tEnd, a.tokens, a.activeDiff = st.T0, st.TEnd, st.Tokens, st.ActiveDiff
	a.errors, a.errorCount = st.Errors, st.ErrorCount
	if a.errorCount == nil {
		a.errorCount = map[string]int{}
	}
	if a.opts.SaveDetailed {
		a.details = st.Details
		if a.details == nil {
			a.details = &Details{}
		}
	}
	return nil
}

// errorCounts lists the failures by error text, most frequent first (ties
// in text order).
func (a *Accumulator) errorCounts() []ErrorCount {
	out := make([]ErrorCount, 0, len(a.errorCount))
	for e, n := range a.errorCount {
		out = append(out, ErrorCount{Error: e, Count: n})
	}
	slices.SortFunc(out, func(x, y ErrorCount) int {
		if x.Count != y.Count {
			return y.Count - x.Count
		}
		return strings.Compare(x.Error, y.Error)
	})
	return out
}

// Calculate is vLLM's calculate_metrics over records in dispatch order.
func Calculate(records []Record, duration float64, opts Options) Result {
	a := NewAccumulator(opts)
	for more := true; more; more = a.NextPass() {
		for _, r := range records {
			a.Add(r)
		}
	}
	return a.Result(duration)
}

// describeMs computes numpy's statistics on values in seconds and scales
// them to milliseconds afterwards, as vLLM does; it sorts values. vLLM
// replaces an empty list by the scalar 0, so every statistic is then 0.
func describeMs(values []float64, percentiles []float64) Stats {
	st := Stats{Percentiles: make([]PercentileValue, len(percentiles))}
	if len(values) == 0 {
		for i, p := range percentiles {
			st.Percentiles[i] = PercentileValue{P: p}
		}
		return st
	}
	mean := Mean(values)
	st.Mean = mean * 1000
	st.Std = stdAround(values, mean) * 1000
	slices.Sort(values)
	at := func(i int) float64 { return values[i] }
	st.Median = medianAt(len(values), at) * 1000
	for i, p := range percentiles {
		st.Percentiles[i] = PercentileValue{P: p, Value: percentileAt(len(values), p, at) * 1000}
	}
	return st
}
