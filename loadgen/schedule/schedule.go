// Package schedule computes when each request is sent, exactly as vLLM v0.20's
// benchmark precomputes it in get_request: a per-request rate (fixed or
// ramping), gamma-distributed gaps drawn from numpy's legacy generator seeded
// with the run's seed, their running sums, and a final rescale so that
// without ramp-up the last request goes out at N/rate seconds.
package schedule

import (
	"fmt"
	"math"
	"sort"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

// Ramp-up strategies.
const (
	RampLinear      = "linear"
	RampExponential = "exponential"
)

// Params are the inputs of the schedule.
type Params struct {
	N           int
	RequestRate float64 // requests per second; math.Inf(1) sends everything at once
	Burstiness  float64 // gamma shape; math.Inf(1) gives evenly spaced requests
	Seed        int64
	// RampUpStrategy is "", RampLinear or RampExponential; with ramp-up the
	// rate goes from RampUpStartRPS to RampUpEndRPS and RequestRate must be inf.
	RampUpStrategy string
	RampUpStartRPS float64
	RampUpEndRPS   float64
}

// RPSChange is one entry of vLLM's rps_change_events: the integer rate
// reached, and the send offset (seconds from the start) at which it was.
type RPSChange struct {
	RPS    int
	Offset float64
}

// Validate reports the first parameter vLLM would reject, naming the field.
func (p Params) Validate() error {
	switch {
	case p.N <= 0:
		return fmt.Errorf("num_prompts %d must be at least 1", p.N)
	case math.IsNaN(p.RequestRate) || p.RequestRate <= 0:
		return fmt.Errorf("request_rate %v must be greater than 0 (use inf to send all requests at once)", p.RequestRate)
	case math.IsNaN(p.Burstiness) || p.Burstiness <= 0:
		return fmt.Errorf("burstiness %v must be greater than 0 (1 is a Poisson process, inf evenly spaced)", p.Burstiness)
	case p.Seed < 0 || p.Seed > math.MaxUint32:
		return fmt.Errorf("seed %d must be between 0 and 4294967295 (numpy's seed range)", p.Seed)
	}
	if p.RampUpStrategy == "" {
		return nil
	}
	switch {
	case p.RampUpStrategy != RampLinear && p.RampUpStrategy != RampExponential:
		return fmt.Errorf("ramp_up_strategy %q must be %q or %q", p.RampUpStrategy, RampLinear, RampExponential)
	case !math.IsInf(p.RequestRate, 1):
		return fmt.Errorf("request_rate %v must be left at inf with ramp_up_strategy; the ramp sets the rate", p.RequestRate)
	case p.RampUpStartRPS < 0 || p.RampUpEndRPS < 0 || math.IsNaN(p.RampUpStartRPS) || math.IsNaN(p.RampUpEndRPS):
		return fmt.Errorf("ramp_up_start_rps %v and ramp_up_end_rps %v must be non-negative", p.RampUpStartRPS, p.RampUpEndRPS)
	case p.RampUpStartRPS > p.RampUpEndRPS:
		return fmt.Errorf("ramp_up_start_rps %v must not exceed ramp_up_end_rps %v", p.RampUpStartRPS, p.RampUpEndRPS)
	case p.RampUpStartRPS == 0 && p.RampUpStrategy == RampExponential:
		return fmt.Errorf("ramp_up_start_rps must be greater than 0 with ramp_up_strategy %s", p.RampUpStrategy)
	}
	return nil
}

// Rate is the request rate vLLM uses for request i of n.
func (p Params) Rate(i int) float64 {
	if p.RampUpStrategy == "" {
		return p.RequestRate
	}
	progress := float64(i) / float64(max(p.N-1, 1))
	if p.RampUpStrategy == RampLinear {
		return p.RampUpStartRPS + float64((p.RampUpEndRPS-p.RampUpStartRPS)*progress)
	}
	return p.RampUpStartRPS * pyrand.Pow(p.RampUpEndRPS/p.RampUpStartRPS, progress)
}

// Offsets returns the send offset in seconds of each of the N requests, in
// dispatch order (non-decreasing).
func Offsets(p Params) ([]float64, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	gen, err := pyrand.NewRandomState(p.Seed)
	if err != nil {
		return nil, err
	}
	offsets := make([]float64, p.N)
	sum := 0.0
	for i := range offsets {
		rate := p.Rate(i)
		if !(rate > 0) {
			return nil, fmt.Errorf("ramp_up_start_rps %v gives request %d a rate of %v; it must be greater than 0", p.RampUpStartRPS, i, rate)
		}
		var gap float64
		switch {
		case math.IsInf(rate, 1):
			gap = 0
		case math.IsInf(p.Burstiness, 1):
			gap = 1.0 / rate
		default:
			gap = gen.Gamma(p.Burstiness, 1.0/(rate*p.Burstiness))
		}
		sum += gap
		offsets[i] = sum
	}
	if last := offsets[p.N-1]; p.RampUpStrategy == "" && last != 0 {
		factor := (float64(p.N) / p.RequestRate) / last
		for i := range offsets {
			offsets[i] *= factor
		}
	}
	return offsets, nil
}

// RPSChanges returns vLLM's rps_change_events for a ramp-up schedule: the
// starting rate at offset 0, then one event per integer step whenever
// int(rate) of a dispatched request exceeds the last recorded value (all the
// steps of one request share its offset). Without ramp-up it returns nil.
func RPSChanges(p Params, offsets []float64) []RPSChange {
	if p.RampUpStrategy == "" {
		return nil
	}
	last := int(p.RampUpStartRPS)
	events := []RPSChange{{RPS: last, Offset: 0}}
	for i, off := range offsets {
		current := int(p.Rate(i))
		for rps := last + 1; rps <= current; rps++ {
			events = append(events, RPSChange{RPS: rps, Offset: off})
		}
		last = max(last, current)
	}
	return events
}

// NumSlices is how many slices of sliceSeconds the schedule spans: the
// last request opens no slice of its own when it falls exactly on a
// boundary (a run of N/r seconds in slices that divide it has no 1-request
// tail slice).
func NumSlices(offsets []float64, sliceSeconds float64) int {
	if len(offsets) == 0 {
		return 0
	}
	last := offsets[len(offsets)-1]
	n := max(int(math.Ceil(last/sliceSeconds)), 1)
	for float64(n)*sliceSeconds < last { // the division rounded down
		n++
	}
	return n
}

// SliceBounds returns the index range [lo, hi) of the requests whose offsets
// lie in [k*sliceSeconds, (k+1)*sliceSeconds); the last slice also holds a
// request exactly at its end. Offsets must be sorted.
func SliceBounds(offsets []float64, sliceSeconds float64, k int) (lo, hi int) {
	lo = sort.SearchFloat64s(offsets, float64(k)*sliceSeconds)
	hi = sort.SearchFloat64s(offsets, float64(k+1)*sliceSeconds)
	if k == NumSlices(offsets, sliceSeconds)-1 {
		hi = len(offsets)
	}
	return lo, hi
}
