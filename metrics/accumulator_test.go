package metrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func ok(start, ttft float64, itl []float64, outputTokens int) Record {
	latency := ttft
	for _, g := range itl {
		latency += g
	}
	return Record{Success: true, Status: StatusCompleted, PromptLen: 10, StartTime: start, TTFT: ttft, ITL: itl, Latency: latency, OutputTokens: outputTokens}
}

func TestOutputTokenRule(t *testing.T) {
	records := []Record{
		ok(0, 0.1, []float64{0.1}, 2),
		{Success: true, TTFT: 0.1, Latency: 0.5, GeneratedText: "three word text"}, // no usage
		{Success: false, Error: "x", GeneratedText: "ignored words here"},
	}
	words := func(s string) int { return len(strings.Fields(s)) }
	withTokenizer := Calculate(records, 1, Options{OutputTokens: words, SaveDetailed: true})
	if got := withTokenizer.Details.OutputLens; fmt.Sprint(got) != "[2 3 0]" {
		t.Errorf("with tokenizer: output lens %v, want [2 3 0]", got)
	}
	if withTokenizer.TotalOutput != 5 {
		t.Errorf("total output %d, want 5", withTokenizer.TotalOutput)
	}
	// The usage-less request's TPOT uses the tokenizer count: (0.5-0.1)/(3-1).
	if want := Mean([]float64{0.2 - 0.1, (0.5 - 0.1) / 2}) * 1000; withTokenizer.TPOT.Mean != want {
		t.Errorf("TPOT mean %v, want %v", withTokenizer.TPOT.Mean, want)
	}
	noTokenizer := Calculate(records, 1, Options{SaveDetailed: true})
	if got := noTokenizer.Details.OutputLens; fmt.Sprint(got) != "[2 1 0]" {
		t.Errorf("without tokenizer: output lens %v, want [2 1 0]", got)
	}
	if noTokenizer.HasTokenizer || !withTokenizer.HasTokenizer {
		t.Errorf("HasTokenizer not set from Options.OutputTokens")
	}
}

func TestInterruptedCountsAsFailed(t *testing.T) {
	records := []Record{
		ok(0, 0.1, nil, 1),
		{Success: true, Status: StatusInterrupted, Error: "interrupted: worker lost", TTFT: 0.1, Latency: 0.2},
		{Success: false, Status: StatusFailed, Error: "Service Unavailable"},
		{Success: false, Status: StatusInterrupted, Error: "interrupted: never sent"},
	}
	res := Calculate(records, 2, Options{})
	if res.Completed != 1 || res.Failed != 3 {
		t.Errorf("completed/failed = %d/%d, want 1/3", res.Completed, res.Failed)
	}
	if want := (StatusCounts{Completed: 1, Failed: 1, Interrupted: 2}); res.Statuses != want {
		t.Errorf("statuses %+v, want %+v", res.Statuses, want)
	}
	if fmt.Sprint(res.Errors) != "[interrupted: worker lost Service Unavailable interrupted: never sent]" {
		t.Errorf("errors %q", res.Errors)
	}
}

func TestGoodputSLOsAreInclusive(t *testing.T) {
	records := []Record{
		ok(0, 0.1, []float64{0.02}, 2),  // ttft 100 ms, tpot 20 ms, e2el 120 ms
		ok(0, 0.25, []float64{0.01}, 2), // ttft 250 ms: misses a 200 ms TTFT SLO
		ok(0, 0.1, nil, 1),              // one token: tpot counts as 0
	}
	cases := []struct {
		slos map[string]float64
		good int
	}{
		{map[string]float64{"ttft": 200}, 2},
		{map[string]float64{"ttft": 100}, 2}, // 0.1 <= 100/1000
		{map[string]float64{"tpot": 15}, 2},
		{map[string]float64{"tpot": 15, "ttft": 200}, 1},
		{map[string]float64{"e2el": 119}, 1},
	}
	for _, c := range cases {
		res := Calculate(records, 2, Options{Goodput: c.slos})
		if want := float64(c.good) / 2; res.RequestGoodput != want || !res.HasGoodput {
			t.Errorf("SLOs %v: goodput %v, want %v", c.slos, res.RequestGoodput, want)
		}
	}
	if res := Calculate(records, 2, Options{}); res.RequestGoodput != 0 || res.HasGoodput {
		t.Errorf("no SLOs: goodput %v", res.RequestGoodput)
	}
}

func TestPeakMetricsUsePerSecondBuckets(t *testing.T) {
	records := []Record{
		// Two requests one after another inside second 0 still count as 2
		// concurrent (vLLM v0.11-v0.20's bucket rule).
		ok(100.0, 0.1, []float64{0.1, 0.1}, 3),
		ok(100.5, 0.1, []float64{0.1}, 2),
		// Spans seconds 1..3; events at 101.2, 101.7, 102.2, 103.9.
		ok(101.1, 0.1, []float64{0.5, 0.5, 1.7}, 4),
		{Success: false, StartTime: 50, Latency: 0}, // failures are ignored
	}
	res := Calculate(records, 4, Options{})
	// Bucket 0: 100.1, 100.2, 100.3, 100.6, 100.7 → 5 events.
	if res.MaxOutputTokensPerS != 5 {
		t.Errorf("peak tokens %v, want 5", res.MaxOutputTokensPerS)
	}
	if res.MaxConcurrentRequests != 2 {
		t.Errorf("peak concurrency %d, want 2", res.MaxConcurrentRequests)
	}
	overlapping := []Record{ok(0, 0.5, []float64{1.0}, 2), ok(0.2, 0.5, []float64{1.0}, 2), ok(1.9, 0.05, nil, 1)}
	if got := Calculate(overlapping, 3, Options{}).MaxConcurrentRequests; got != 3 {
		t.Errorf("overlapping: peak concurrency %d, want 3", got)
	}
}

func TestEmptyListsGiveZeroStats(t *testing.T) {
	res := Calculate([]Record{ok(0, 0.1, nil, 1)}, 1, Options{Percentiles: []float64{50, 99.9}})
	if res.TPOT.Mean != 0 || res.TPOT.Std != 0 || res.TPOT.Median != 0 || res.TPOT.Percentiles[1] != (PercentileValue{99.9, 0}) {
		t.Errorf("TPOT of one-token outputs: %+v", res.TPOT)
	}
	if res.ITL.Mean != 0 || len(res.ITL.Percentiles) != 2 {
		t.Errorf("ITL without gaps: %+v", res.ITL)
	}
	if res.TTFT.Mean != 100 {
		t.Errorf("TTFT mean %v ms, want 100", res.TTFT.Mean)
	}
}

// passes feeds records to a through every pass it asks for and returns how
// many there were.
func passes(a *Accumulator, records []Record) int {
	n := 1
	for {
		for _, r := range records {
			a.Add(r)
		}
		if !a.NextPass() {
			return n
		}
		n++
	}
}

// The ITL statistics equal numpy's over the gaps of every request in
// order, bit for bit, however few distinct values a pass may hold: fewer
// only takes more passes.
func TestITLStatsMatchNumpyInEveryNumberOfPasses(t *testing.T) {
	v := loadNumpyVectors(t)
	for _, c := range v.Stats {
		gaps := lcgArray(c.Seed, c.N, c.Scale, c.Offset, c.Square)
		var records []Record
		for i := 0; i < len(gaps); i += 1 + i%13 { // requests of 1 to 13 gaps
			itl := gaps[i:min(len(gaps), i+1+i%13)]
			records = append(records, ok(float64(i), 0.1, itl, len(itl)+1))
		}
		var pcts []float64
		for _, pv := range c.Percentiles {
			pcts = append(pcts, pv[0].(float64))
		}
		for _, maxDistinct := range []int{1, 5, 0} {
			name := fmt.Sprintf("n=%d square=%v max_distinct=%d", c.N, c.Square, maxDistinct)
			a := NewAccumulator(Options{Percentiles: pcts, MaxDistinct: maxDistinct})
			n := passes(a, records)
			got := a.Result(1).ITL
			sameFloat(t, name+" mean", got.Mean, hexFloat(t, c.Mean)*1000)
			sameFloat(t, name+" std", got.Std, hexFloat(t, c.Std)*1000)
			sameFloat(t, name+" median", got.Median, hexFloat(t, c.Median)*1000)
			for i, pv := range c.Percentiles {
				sameFloat(t, name+" p"+PyFloat(pcts[i]), got.Percentiles[i].Value, hexFloat(t, pv[1].(string))*1000)
			}
			switch {
			case maxDistinct == 0 && n != 2:
				t.Errorf("%s: %d passes, want 2", name, n)
			case maxDistinct == 1 && c.N >= 8191 && n < 3:
				t.Errorf("%s: %d passes: the narrowing passes were not exercised", name, n)
			}
		}
	}
}

// Values one ulp apart share all but their last key bits: the passes
// narrow them down to the whole key.
func TestAdjacentITLValuesTakeEveryPass(t *testing.T) {
	x := 0.0123
	var records []Record
	var all []float64
	for i := range 3000 {
		itl := make([]float64, 1+i%3)
		for k := range itl {
			x = math.Nextafter(x, 1)
			if (i+k)%5 == 0 {
				x = math.Nextafter(x, 1) // some gaps in the sequence
			}
			itl[k] = x
		}
		all = append(all, itl...)
		records = append(records, ok(float64(i), 0.1, itl, len(itl)+1))
	}
	pcts := []float64{1, 33.3, 50, 99, 99.9}
	a := NewAccumulator(Options{Percentiles: pcts, MaxDistinct: 1})
	if n := passes(a, records); n != 4 {
		t.Errorf("%d passes, want 4 (24, 40, 56 and 64 key bits)", n)
	}
	got := a.Result(1).ITL
	sameFloat(t, "median", got.Median, Median(all)*1000)
	for i, p := range pcts {
		sameFloat(t, "p"+PyFloat(p), got.Percentiles[i].Value, Percentile(all, p)*1000)
	}
	sameFloat(t, "std", got.Std, Std(all)*1000)
}

// Heavily repeated values (a simulator's fixed latencies) need no more
// passes than spread ones: a pass holds distinct values with their counts.
func TestRepeatedITLValuesNeedTwoPasses(t *testing.T) {
	records := make([]Record, 20000)
	var all []float64
	for i := range records {
		itl := []float64{0.011 + float64(i%7)*0.0005, 0.012, 0.011 + float64((i+3)%7)*0.0005}
		all = append(all, itl...)
		records[i] = ok(float64(i)*0.01, 0.05, itl, 4)
	}
	a := NewAccumulator(Options{Percentiles: []float64{50, 90, 99, 99.9}, MaxDistinct: 16})
	if n := passes(a, records); n != 2 {
		t.Errorf("%d passes, want 2", n)
	}
	got := a.Result(200).ITL
	sameFloat(t, "mean", got.Mean, Mean(all)*1000)
	sameFloat(t, "std", got.Std, Std(all)*1000)
	sameFloat(t, "median", got.Median, Median(all)*1000)
	for i, p := range []float64{50, 90, 99, 99.9} {
		sameFloat(t, "p"+PyFloat(p), got.Percentiles[i].Value, Percentile(all, p)*1000)
	}
}

// BenchmarkAccumulator500k feeds 500k records with 10 ITL gaps each and
// computes the result; the sub-benchmarks time the two halves.
func BenchmarkAccumulator500k(b *testing.B) {
	const n = 500_000
	records := make([]Record, n)
	for i := range records {
		itl := make([]float64, 10)
		for k := range itl {
			itl[k] = 0.02 + float64((i*7+k)%13)*0.001
		}
		records[i] = ok(float64(i)*0.002, 0.1+float64(i%97)*0.001, itl, 11)
	}
	fill := func() *Accumulator {
		a := NewAccumulator(Options{})
		for _, r := range records {
			a.Add(r)
		}
		return a
	}
	result := func(a *Accumulator) Result {
		for a.NextPass() {
			for _, r := range records {
				a.Add(r)
			}
		}
		return a.Result(1000)
	}
	b.Run("add+result", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := result(fill()); res.Completed != n {
				b.Fatal(res.Completed)
			}
		}
	})
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fill()
		}
	})
	b.Run("later-passes+result", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			a := fill()
			b.StartTimer()
			result(a)
		}
	})
}

// An accumulator saved midway and restored into a new one with the same
// options goes on to the same result, details and error counts included.
func TestAccumulatorSavedMidwayGoesOnToTheSameResult(t *testing.T) {
	opts := Options{SaveDetailed: true, Percentiles: []float64{50, 99}, Goodput: map[string]float64{MetricTTFT: 150},
		OutputTokens: func(s string) int { return len(strings.Fields(s)) }}
	var records []Record
	for i := range 40 {
		switch i % 7 {
		case 3:
			records = append(records, Record{Status: StatusFailed, Error: fmt.Sprintf("HTTP %d", 500+i%2), StartTime: float64(i)})
		case 5:
			records = append(records, Record{Status: StatusInterrupted, Error: "interrupted: stopped"})
		default:
			r := ok(float64(i)*0.3, 0.1+0.01*float64(i%5), []float64{0.02 + float64(i)*1e-12, 0.03 * float64(i%3)}, 0)
			r.GeneratedText = strings.Repeat("word ", 3+i%4)
			records = append(records, r)
		}
	}
	opts.MaxDistinct = 2 // narrowing passes too
	whole := NewAccumulator(opts)
	total := passes(whole, records)
	if total < 3 {
		t.Fatalf("%d passes: the records exercise no narrowing pass", total)
	}
	for pass := 1; pass <= total; pass++ {
		first := NewAccumulator(opts)
		for range pass - 1 {
			for _, r := range records {
				first.Add(r)
			}
			first.NextPass()
		}
		for _, r := range records[:17] {
			first.Add(r)
		}
		saved, err := first.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		resumed := NewAccumulator(opts)
		if err := resumed.UnmarshalBinary(saved); err != nil {
			t.Fatal(err)
		}
		for _, r := range records[17:] {
			resumed.Add(r)
		}
		for resumed.NextPass() {
			for _, r := range records {
				resumed.Add(r)
			}
		}
		info := RunInfo{Date: "20261204-010000", Backend: "vllm", ModelID: "m", NumPrompts: len(records)}
		if want, got := ResultJSON(whole.Result(12), info), ResultJSON(resumed.Result(12), info); got != want {
			t.Errorf("saved in pass %d, the resumed result differs:\n got %s\nwant %s", pass, got, want)
		}
	}
	want := ResultJSON(whole.Result(12), RunInfo{})
	if !strings.Contains(want, `"generated_texts"`) || whole.Result(12).RequestGoodput == 0 {
		t.Fatalf("the records exercise neither details nor goodput: %s", want)
	}
	if err := NewAccumulator(opts).UnmarshalBinary([]byte("not a state")); err == nil {
		t.Error("a state that is not one was read")
	}
}

// A later pass given other records than the first (a store changed under
// the aggregation) ends the passes with an error, never with wrong figures.
func TestALaterPassWithOtherRecordsIsAnError(t *testing.T) {
	records := randomRecords(5, 300)
	shorter := slices.Clone(records)
	for i := range shorter {
		if len(shorter[i].ITL) > 0 {
			shorter[i].ITL = shorter[i].ITL[1:]
			break
		}
	}
	for name, again := range map[string][]Record{"a record fewer": records[1:], "a gap fewer": shorter} {
		a := NewAccumulator(Options{})
		for _, r := range records {
			a.Add(r)
		}
		if !a.NextPass() {
			t.Fatal("no second pass")
		}
		for _, r := range again {
			a.Add(r)
		}
		if a.NextPass() || a.Err() == nil || !strings.Contains(a.Err().Error(), "changed between passes") {
			t.Errorf("%s: NextPass went on or Err is %v", name, a.Err())
		}
	}
	a := NewAccumulator(Options{})
	if passes(a, records); a.Err() != nil {
		t.Errorf("the same records in every pass: %v", a.Err())
	}
}
