package metrics

import (
	"math"
)

// Histogram accuracy. A value x in [HistogramMinValue, HistogramMaxValue]
// seconds falls in bucket i = ceil(log_γ x) with γ = (1+α)/(1-α), which covers
// (γ^(i-1), γ^i]; the bucket's representative 2γ^i/(γ+1) is within relative
// error α of every value in it. Smaller values (zero included) are counted
// as 0, larger ones in the top bucket.
const (
	HistogramRelativeError = 0.01
	HistogramMinValue      = 1e-9 // seconds
	HistogramMaxValue      = 1e6  // seconds
)

var (
	histogramGamma    = (1 + HistogramRelativeError) / (1 - HistogramRelativeError)
	histogramLogGamma = math.Log(histogramGamma)
	histogramMaxIndex = bucketIndex(HistogramMaxValue)
)

func bucketIndex(x float64) int {
	return int(math.Ceil(math.Log(x) / histogramLogGamma))
}

// Histogram is a log-bucketed digest of one metric's values in seconds.
// Counts are dense from bucket Offset to the highest bucket used, so a run's
// latencies (a few decades) take a few hundred small numbers.
type Histogram struct {
	Count  int64   `json:"n"`
	Sum    float64 `json:"sum"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Zero   int64   `json:"zero,omitempty"` // values below HistogramMinValue
	Offset int     `json:"offset"`
	Counts []int64 `json:"counts,omitempty"`
}

// Add counts one value.
func (h *Histogram) Add(x float64) {
	if h.Count == 0 {
		h.Min, h.Max = x, x
	} else {
		h.Min, h.Max = min(h.Min, x), max(h.Max, x)
	}
	h.Count++
	h.Sum += x
	if !(x >= HistogramMinValue) {
		h.Zero++
		return
	}
	h.addBucket(min(bucketIndex(x), histogramMaxIndex), 1)
}

func (h *Histogram) addBucket(i int, n int64) {
	switch {
	case len(h.Counts) == 0:
		h.Offset = i
		h.Counts = []int64{0}
	case i < h.Offset:
		grown := make([]int64, h.Offset-i+len(h.Counts))
		copy(grown[h.Offset-i:], h.Counts)
		h.Counts, h.Offset = grown, i
	case i >= h.Offset+len(h.Counts):
		h.Counts = append(h.Counts, make([]int64, i-h.Offset-len(h.Counts)+1)...)
	}
	h.Counts[i-h.Offset] += n
}

func (h *Histogram) merge(o *Histogram) {
	if o.Count == 0 {
		return
	}
	if h.Count == 0 {
		h.Min, h.Max = o.Min, o.Max
	} else {
		h.Min, h.Max = min(h.Min, o.Min), max(h.Max, o.Max)
	}
	h.Count += o.Count
	h.Sum += o.Sum
	h.Zero += o.Zero
	for j, n := range o.Counts {
		if n != 0 {
			h.addBucket(o.Offset+j, n)
		}
	}
}

// mean is the exact mean of the values; NaN when empty.
func (h *Histogram) mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / float64(h.Count)
}

// Quantile interpolates linearly between the estimated order statistics, as
// np.percentile does between the exact ones, so it inherits their bound;
// NaN when empty.
func (h *Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	v := float64(h.Count-1) * min(max(q, 0), 1)
	lo := math.Floor(v)
	x := h.orderStat(int64(lo))
	if t := v - lo; t > 0 {
		x += (h.orderStat(int64(lo)+1) - x) * t
	}
	return x
}

// orderStat estimates the k-th smallest value (from 0).
func (h *Histogram) orderStat(k int64) float64 {
	if k < h.Zero {
		return max(h.Min, 0)
	}
	seen := h.Zero
	for j, n := range h.Counts {
		seen += n
		if k < seen {
			rep := 2 * math.Pow(histogramGamma, float64(h.Offset+j)) / (histogramGamma + 1)
			return min(max(rep, h.Min), h.Max)
		}
	}
	return h.Max
}

// Summary is a small, mergeable digest of records for live progress: counts,
// token sums and histograms of TTFT, TPOT, ITL and E2EL (seconds) over the
// successful requests. Merging is exact addition, so a slice's summary is
// the merge of its replicas' and a run's the merge of its slices'.
// Quantiles are within HistogramRelativeError (1%) relative error of
// np.percentile's, for values of at least HistogramMinValue; means are
// exact up to float summation order.
type Summary struct {
	Statuses StatusCounts `json:"statuses"`
	// InputTokens and OutputTokens are summed over successful requests, as
	// vLLM's totals are. A record without output_tokens counts its stream
	// events (1 + len(ITL)); the summary has no tokenizer.
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	TTFT         Histogram `json:"ttft"`
	TPOT         Histogram `json:"tpot"`
	ITL          Histogram `json:"itl"`
	E2EL         Histogram `json:"e2el"`
	// Failures counts the failed requests by FailureReason; LastError is
	// the newest failure's text.
	Failures  map[string]int `json:"failures,omitempty"`
	LastError string         `json:"last_error,omitempty"`
}

// NewSummary returns an empty summary.
func NewSummary() *Summary { return &Summary{} }

// Add folds one record in; order does not matter.
func (s *Summary) Add(r Record) {
	success := r.Success && r.Status != StatusInterrupted
	switch {
	case r.Status == StatusInterrupted:
		s.Statuses.Interrupted++
		return
	case !success:
		s.Statuses.Failed++
		if s.Failures == nil {
			s.Failures = map[string]int{}
		}
		s.Failures[FailureReason(r.Error)]++
		s.LastError = r.Error
		return
	}
	s.Statuses.Completed++
	outputLen := r.OutputTokens
	if outputLen == 0 {
		outputLen = 1 + len(r.ITL)
	}
	s.InputTokens += int64(r.PromptLen)
	s.OutputTokens += int64(outputLen)
	s.TTFT.Add(r.TTFT)
	s.E2EL.Add(r.Latency)
	if outputLen > 1 {
		s.TPOT.Add((r.Latency - r.TTFT) / float64(outputLen-1))
	}
	for _, gap := range r.ITL {
		s.ITL.Add(gap)
	}
}

// Merge adds other into s.
func (s *Summary) Merge(other *Summary) {
	s.Statuses.Completed += other.Statuses.Completed
	s.Statuses.Failed += other.Statuses.Failed
	s.Statuses.Interrupted += other.Statuses.Interrupted
	s.InputTokens += other.InputTokens
	s.OutputTokens += other.OutputTokens
	s.TTFT.merge(&other.TTFT)
	s.TPOT.merge(&other.TPOT)
	s.ITL.merge(&other.ITL)
	s.E2EL.merge(&other.E2EL)
	for reason, n := range other.Failures {
		if s.Failures == nil {
			s.Failures = map[string]int{}
		}
		s.Failures[reason] += n
	}
	if other.LastError != "" {
		s.LastError = other.LastError
	}
}

// Quantile estimates the q-quantile (0 <= q <= 1; 0.99 is P99) of a metric
// ("ttft", "tpot", "itl", "e2el") in seconds; NaN when it has no values or
// the metric is unknown.
func (s *Summary) Quantile(metric string, q float64) float64 {
	if h := s.histogram(metric); h != nil {
		return h.Quantile(q)
	}
	return math.NaN()
}

// Mean is a metric's mean in seconds; NaN when it has no values or the
// metric is unknown.
func (s *Summary) Mean(metric string) float64 {
	if h := s.histogram(metric); h != nil {
		return h.mean()
	}
	return math.NaN()
}

func (s *Summary) histogram(metric string) *Histogram {
	switch metric {
	case MetricTTFT:
		return &s.TTFT
	case MetricTPOT:
		return &s.TPOT
	case MetricITL:
		return &s.ITL
	case MetricE2EL:
		return &s.E2EL
	}
	return nil
}
