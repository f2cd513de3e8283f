package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// randomRecords makes successful and failed records with log-normal latencies
// spread over a few decades.
func randomRecords(seed uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	logNormal := func(median, sigma float64) float64 { return median * math.Exp(sigma*rng.NormFloat64()) }
	records := make([]Record, n)
	for i := range records {
		r := Record{Index: i, PromptLen: 100 + rng.IntN(900), StartTime: float64(i) * 0.01}
		switch {
		case rng.IntN(20) == 0:
			r.Status, r.Error = StatusFailed, "Internal Server Error"
		case rng.IntN(50) == 0:
			r.Status = StatusInterrupted
		default:
			r.Status, r.Success = StatusCompleted, true
			r.TTFT = logNormal(0.2, 1)
			r.ITL = make([]float64, rng.IntN(12))
			r.Latency = r.TTFT
			for k := range r.ITL {
				r.ITL[k] = logNormal(0.02, 0.7)
				r.Latency += r.ITL[k]
			}
			r.OutputTokens = len(r.ITL) + 1
		}
		records[i] = r
	}
	return records
}

func TestSummaryQuantileErrorBound(t *testing.T) {
	records := randomRecords(1, 20000)
	s := NewSummary()
	var ttfts, itls, e2els, tpots []float64
	for _, r := range records {
		s.Add(r)
		if !r.Success {
			continue
		}
		ttfts = append(ttfts, r.TTFT)
		e2els = append(e2els, r.Latency)
		itls = append(itls, r.ITL...)
		if r.OutputTokens > 1 {
			tpots = append(tpots, (r.Latency-r.TTFT)/float64(r.OutputTokens-1))
		}
	}
	bound := HistogramRelativeError * (1 + 1e-9)
	for metric, values := range map[string][]float64{MetricTTFT: ttfts, MetricITL: itls, MetricE2EL: e2els, MetricTPOT: tpots} {
		for _, q := range []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1} {
			exact := Percentile(values, q*100)
			got := s.Quantile(metric, q)
			if rel := math.Abs(got-exact) / exact; rel > bound {
				t.Errorf("%s q%v: %v vs exact %v, relative error %.4g > %v", metric, q, got, exact, rel, bound)
			}
		}
		if got, want := s.Mean(metric), Mean(values); math.Abs(got-want) > 1e-12*want {
			t.Errorf("%s mean %v, want %v", metric, got, want)
		}
	}
}

func TestSummaryCountsMatchAccumulator(t *testing.T) {
	records := randomRecords(2, 3000)
	s := NewSummary()
	for _, r := range records {
		s.Add(r)
	}
	res := Calculate(records, 30, Options{})
	if s.Statuses != res.Statuses {
		t.Errorf("statuses %+v, want %+v", s.Statuses, res.Statuses)
	}
	if int(s.InputTokens) != res.TotalInput || int(s.OutputTokens) != res.TotalOutput {
		t.Errorf("tokens %d/%d, want %d/%d", s.InputTokens, s.OutputTokens, res.TotalInput, res.TotalOutput)
	}
	if s.TTFT.Count != int64(res.Completed) || s.E2EL.Count != int64(res.Completed) {
		t.Errorf("histogram counts %d/%d, want %d", s.TTFT.Count, s.E2EL.Count, res.Completed)
	}
}

func TestSummaryMergeIsAddition(t *testing.T) {
	records := randomRecords(3, 5000)
	whole := NewSummary()
	parts := []*Summary{NewSummary(), NewSummary(), NewSummary()}
	for i, r := range records {
		whole.Add(r)
		parts[i%3].Add(r)
	}
	merged := NewSummary()
	for _, p := range parts {
		merged.Merge(p)
	}
	if merged.Statuses != whole.Statuses || merged.InputTokens != whole.InputTokens || merged.OutputTokens != whole.OutputTokens {
		t.Fatalf("counts differ: %+v vs %+v", merged, whole)
	}
	for _, m := range []string{MetricTTFT, MetricTPOT, MetricITL, MetricE2EL} {
		a, b := merged.histogram(m), whole.histogram(m)
		if a.Count != b.Count || a.Zero != b.Zero || a.Min != b.Min || a.Max != b.Max || math.Abs(a.Sum-b.Sum) > 1e-9*b.Sum {
			t.Errorf("%s: merged %d/%v/%v/%v, whole %d/%v/%v/%v", m, a.Count, a.Min, a.Max, a.Sum, b.Count, b.Min, b.Max, b.Sum)
		}
		if a.Offset != b.Offset || len(a.Counts) != len(b.Counts) {
			t.Fatalf("%s: bucket ranges differ: %d+%d vs %d+%d", m, a.Offset, len(a.Counts), b.Offset, len(b.Counts))
		}
		for j := range a.Counts {
			if a.Counts[j] != b.Counts[j] {
				t.Errorf("%s bucket %d: %d vs %d", m, a.Offset+j, a.Counts[j], b.Counts[j])
			}
		}
		for _, q := range []float64{0.5, 0.99} {
			if merged.Quantile(m, q) != whole.Quantile(m, q) {
				t.Errorf("%s q%v differs after merge", m, q)
			}
		}
	}
}

func TestSummaryJSONIsSmallAndRoundTrips(t *testing.T) {
	s := NewSummary()
	for _, r := range randomRecords(4, 50000) {
		s.Add(r)
	}
	// An extreme but possible spread: a 1 µs gap and a 10 minute request.
	s.Add(Record{Success: true, TTFT: 1e-6, Latency: 600, ITL: []float64{0, 1e-6, 300}, OutputTokens: 4})
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary of 50001 records: %d bytes of JSON", len(data))
	if len(data) > 8192 {
		t.Errorf("summary JSON is %d bytes", len(data))
	}
	var back Summary
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{MetricTTFT, MetricTPOT, MetricITL, MetricE2EL} {
		if back.Quantile(m, 0.99) != s.Quantile(m, 0.99) || back.Mean(m) != s.Mean(m) {
			t.Errorf("%s changed through JSON", m)
		}
	}
	if got := s.Quantile(MetricITL, 0); got != 0 {
		t.Errorf("a zero gap should give a zero minimum, got %v", got)
	}
}

func TestSummaryEmpty(t *testing.T) {
	s := NewSummary()
	if !math.IsNaN(s.Quantile(MetricTTFT, 0.5)) || !math.IsNaN(s.Mean(MetricE2EL)) || !math.IsNaN(s.Quantile("bogus", 0.5)) {
		t.Errorf("empty summary should answer NaN")
	}
	s.Merge(NewSummary())
	if s.TTFT.Count != 0 {
		t.Errorf("merging empties added values")
	}
}
