package schedule

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// pyFloat decodes a JSON number or the string "inf".
type pyFloat float64

func (f *pyFloat) UnmarshalJSON(b []byte) error {
	if string(b) == `"inf"` {
		*f = pyFloat(math.Inf(1))
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

type goldenSchedule struct {
	N              int       `json:"n"`
	RequestRate    pyFloat   `json:"request_rate"`
	Burstiness     pyFloat   `json:"burstiness"`
	Seed           int64     `json:"seed"`
	RampUpStrategy string    `json:"ramp_up_strategy"`
	RampUpStartRPS float64   `json:"ramp_up_start_rps"`
	RampUpEndRPS   float64   `json:"ramp_up_end_rps"`
	Offsets        []float64 `json:"send_offsets_s"`
	Rates          []pyFloat `json:"per_request_rate"`
}

func (g goldenSchedule) params() Params {
	return Params{N: g.N, RequestRate: float64(g.RequestRate), Burstiness: float64(g.Burstiness), Seed: g.Seed,
		RampUpStrategy: g.RampUpStrategy, RampUpStartRPS: g.RampUpStartRPS, RampUpEndRPS: g.RampUpEndRPS}
}

func loadGolden(t *testing.T) []goldenSchedule {
	t.Helper()
	raw, err := os.ReadFile("testdata/arrivals.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schedules []goldenSchedule `json:"schedules"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Schedules) == 0 {
		t.Fatal("no schedules in golden file")
	}
	return doc.Schedules
}

func TestOffsetsMatchVLLM(t *testing.T) {
	for _, g := range loadGolden(t) {
		p := g.params()
		got, err := Offsets(p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if len(got) != len(g.Offsets) {
			t.Fatalf("%+v: %d offsets, want %d", p, len(got), len(g.Offsets))
		}
		for i := range got {
			if got[i] != g.Offsets[i] {
				t.Errorf("%+v: offset %d = %v, want %v", p, i, got[i], g.Offsets[i])
			}
			if rate := p.Rate(i); rate != float64(g.Rates[i]) {
				t.Errorf("%+v: rate %d = %v, want %v", p, i, rate, float64(g.Rates[i]))
			}
		}
	}
}

func TestRPSChangesStepThroughEveryInteger(t *testing.T) {
	p := Params{N: 10, RequestRate: math.Inf(1), Burstiness: 1, RampUpStrategy: RampExponential, RampUpStartRPS: 1, RampUpEndRPS: 16}
	offsets, err := Offsets(p)
	if err != nil {
		t.Fatal(err)
	}
	events := RPSChanges(p, offsets)
	// rates 1, 1.36, 1.85, 2.52, 3.43, 4.67, 6.35, 8.64, 11.76, 16: every
	// integer from 1 to 16 appears once, in order; skipped integers share the
	// offset of the request that crossed them.
	if len(events) != 16 {
		t.Fatalf("got %d events: %+v", len(events), events)
	}
	for i, e := range events {
		if e.RPS != i+1 {
			t.Fatalf("event %d has rps %d: %+v", i, e.RPS, events)
		}
	}
	if events[0].Offset != 0 || events[1].Offset != offsets[3] || events[4].Offset != offsets[6] || events[5].Offset != offsets[6] || events[15].Offset != offsets[9] {
		t.Fatalf("event offsets wrong: %+v (offsets %v)", events, offsets)
	}
	if RPSChanges(Params{N: 3, RequestRate: 2, Burstiness: 1}, []float64{0.5, 1, 1.5}) != nil {
		t.Fatal("events without ramp-up")
	}
}

func TestValidationNamesTheField(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		p     Params
		field string
	}{
		{Params{N: 0, RequestRate: 1, Burstiness: 1}, "num_prompts"},
		{Params{N: 5, RequestRate: 0, Burstiness: 1}, "request_rate"},
		{Params{N: 5, RequestRate: 1, Burstiness: 0}, "burstiness"},
		{Params{N: 5, RequestRate: 1, Burstiness: 1, Seed: -1}, "seed"},
		{Params{N: 5, RequestRate: 1, Burstiness: 1, RampUpStrategy: "linear", RampUpStartRPS: 1, RampUpEndRPS: 2}, "request_rate"},
		{Params{N: 5, RequestRate: inf, Burstiness: 1, RampUpStrategy: "cubic", RampUpStartRPS: 1, RampUpEndRPS: 2}, "ramp_up_strategy"},
		{Params{N: 5, RequestRate: inf, Burstiness: 1, RampUpStrategy: "linear", RampUpStartRPS: 3, RampUpEndRPS: 2}, "ramp_up_start_rps"},
		{Params{N: 5, RequestRate: inf, Burstiness: 1, RampUpStrategy: "exponential", RampUpStartRPS: 0, RampUpEndRPS: 2}, "ramp_up_start_rps"},
		{Params{N: 5, RequestRate: inf, Burstiness: 1, RampUpStrategy: "linear", RampUpStartRPS: 0, RampUpEndRPS: 2}, "ramp_up_start_rps"},
	}
	for _, c := range cases {
		_, err := Offsets(c.p)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: error %v, want one naming %s", c.p, err, c.field)
		}
	}
}

func TestLastRequestAtNOverRate(t *testing.T) {
	p := Params{N: 500_000, RequestRate: 123.0, Burstiness: 0.7, Seed: 42}
	offsets, err := Offsets(p)
	if err != nil {
		t.Fatal(err)
	}
	if last := offsets[len(offsets)-1]; math.Abs(last-float64(p.N)/p.RequestRate) > 1e-9 {
		t.Fatalf("last offset %v, want %v", last, float64(p.N)/p.RequestRate)
	}
	for i := 1; i < len(offsets); i++ {
		if offsets[i] < offsets[i-1] {
			t.Fatalf("offsets decrease at %d", i)
		}
	}
}

func TestSlicesPartitionTheRequests(t *testing.T) {
	offsets, err := Offsets(Params{N: 1000, RequestRate: 10, Burstiness: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{0.1, 1, 7.5, 1000} {
		n := NumSlices(offsets, s)
		next := 0
		for k := range n {
			lo, hi := SliceBounds(offsets, s, k)
			if lo != next {
				t.Fatalf("S=%v slice %d starts at %d, want %d", s, k, lo, next)
			}
			for i := lo; i < hi; i++ {
				end := float64(k+1) * s
				if offsets[i] < float64(k)*s || offsets[i] > end || offsets[i] == end && k < n-1 {
					t.Fatalf("S=%v slice %d holds offset %v", s, k, offsets[i])
				}
			}
			next = hi
		}
		if next != len(offsets) {
			t.Fatalf("S=%v: %d slices cover %d of %d requests", s, n, next, len(offsets))
		}
	}
	if NumSlices(nil, 1) != 0 {
		t.Fatal("slices for no requests")
	}
	// An offset exactly on a boundary belongs to the later slice, except
	// the run's end, which closes the last slice instead of opening a
	// one-request tail slice.
	if lo, hi := SliceBounds([]float64{0, 1, 1, 2, 3}, 1, 1); lo != 1 || hi != 3 {
		t.Fatalf("boundary slice = [%d,%d)", lo, hi)
	}
	if NumSlices([]float64{0, 1, 2}, 1) != 2 {
		t.Fatal("offsets 0..2 with S=1 span 2 slices")
	}
	if lo, hi := SliceBounds([]float64{0, 1, 1, 2}, 1, 1); lo != 1 || hi != 4 {
		t.Fatalf("last slice = [%d,%d), want it to hold the final offset", lo, hi)
	}
	if NumSlices([]float64{0}, 1) != 1 {
		t.Fatal("a lone request at 0 needs a slice")
	}
}

func BenchmarkOffsets500k(b *testing.B) {
	for _, burst := range []float64{1, 0.5, 2} {
		p := Params{N: 500_000, RequestRate: 100, Burstiness: burst, Seed: 0}
		b.Run(fmt.Sprintf("burstiness=%g", burst), func(b *testing.B) {
			for b.Loop() {
				if _, err := Offsets(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
