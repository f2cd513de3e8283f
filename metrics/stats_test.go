package metrics

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"
)

type numpyVectors struct {
	Stats []struct {
		Seed        uint64   `json:"seed"`
		N           int      `json:"n"`
		Scale       float64  `json:"scale"`
		Offset      float64  `json:"offset"`
		Square      bool     `json:"square"`
		Sum         string   `json:"sum"`
		Mean        string   `json:"mean"`
		Std         string   `json:"std"`
		Median      string   `json:"median"`
		Percentiles [][2]any `json:"percentiles"`
	} `json:"stats"`
	Repr        [][2]string `json:"repr"`
	JSONStrings [][2]string `json:"json_strings"`
}

// loadNumpyVectors reads results computed by numpy 1.24.2
// (testdata/numpy/gen_vectors.py).
func loadNumpyVectors(t *testing.T) numpyVectors {
	t.Helper()
	data, err := os.ReadFile("testdata/numpy/numpy_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v numpyVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// lcgArray reproduces gen_vectors.py's arrays with the same IEEE operations.
func lcgArray(seed uint64, n int, scale, offset float64, square bool) []float64 {
	out := make([]float64, n)
	s := seed
	for i := range out {
		s = s*6364136223846793005 + 1442695040888963407
		u := float64(s>>11) / 9007199254740992.0
		x := float64(u*scale) + offset // float64() keeps the product rounded, as in Python
		if square {
			x = x * x
		}
		out[i] = x
	}
	return out
}

func hexFloat(t *testing.T, s string) float64 {
	t.Helper()
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestStatsMatchNumpy(t *testing.T) {
	v := loadNumpyVectors(t)
	for _, c := range v.Stats {
		a := lcgArray(c.Seed, c.N, c.Scale, c.Offset, c.Square)
		name := strconv.Itoa(c.N)
		if c.Square {
			name += "sq"
		}
		sameFloat(t, name+" sum", Sum(a), hexFloat(t, c.Sum))
		sameFloat(t, name+" mean", Mean(a), hexFloat(t, c.Mean))
		sameFloat(t, name+" std", Std(a), hexFloat(t, c.Std))
		sameFloat(t, name+" median", Median(a), hexFloat(t, c.Median))
		for _, pv := range c.Percentiles {
			p := pv[0].(float64)
			sameFloat(t, name+" p"+PyFloat(p), Percentile(a, p), hexFloat(t, pv[1].(string)))
		}
	}
}

// naiveSum is left-to-right summation, which numpy does not do.
func naiveSum(a []float64) float64 {
	s := 0.0
	for _, x := range a {
		s += x
	}
	return s
}

func TestPairwiseSumShape(t *testing.T) {
	// Below 8 elements numpy adds left to right from 0.0.
	small := []float64{1e16, 1, 1, 1, 1, 1, 1}
	if got := Sum(small); got != naiveSum(small) {
		t.Errorf("n<8: %v, want left-to-right %v", got, naiveSum(small))
	}
	// 8..128: eight interleaved partial sums. With 1e16 in lane 0, lane 0
	// stays 1e16 (1e16+1 rounds to even) while lanes 1-7 reach 2 each and
	// survive; left to right every 1 would be lost.
	lanes := make([]float64, 16)
	for i := range lanes {
		lanes[i] = 1
	}
	lanes[0] = 1e16
	if got := Sum(lanes); got != 1e16+14 {
		t.Errorf("8..128: %v, want %v", got, 1e16+14)
	}
	if naiveSum(lanes) != 1e16 {
		t.Errorf("naive sum %v: the vector does not separate the algorithms", naiveSum(lanes))
	}
	// Above 8192 elements numpy adds the blocks' pairwise sums in order.
	big := lcgArray(7, 20000, 1, 0, true)
	blocks := 0.0
	blocks += pairwiseSum(big[:8192])
	blocks += pairwiseSum(big[8192:16384])
	blocks += pairwiseSum(big[16384:])
	if got := Sum(big); math.Float64bits(got) != math.Float64bits(blocks) {
		t.Errorf(">8192: %v, want block sums %v", got, blocks)
	}
}

func TestPercentileEdges(t *testing.T) {
	a := []float64{4, 1, 3, 2}
	cases := []struct{ p, want float64 }{
		{0, 1}, {100, 4}, {50, 2.5}, {25, 1.75}, {75, 3.25}, {99, 3.97},
	}
	for _, c := range cases {
		if got := Percentile(a, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile([]float64{5}, 99); got != 5 {
		t.Errorf("single value p99 = %v", got)
	}
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("odd median = %v", got)
	}
	if got := Median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("even median = %v", got)
	}
	if got := Std([]float64{2, 4, 4, 4, 5, 5, 7, 9}); got != 2 {
		t.Errorf("population std = %v, want 2", got)
	}
	// Inputs are not reordered.
	if a[0] != 4 || a[3] != 2 {
		t.Errorf("Percentile sorted its input: %v", a)
	}
}

func TestPyFloat(t *testing.T) {
	v := loadNumpyVectors(t)
	for _, c := range v.Repr {
		x := hexFloat(t, c[0])
		if got := PyFloat(x); got != c[1] {
			t.Errorf("PyFloat(%v) = %q, want %q", x, got, c[1])
		}
	}
	for x, want := range map[float64]string{math.Inf(1): "inf", math.Inf(-1): "-inf", math.NaN(): "nan"} {
		if got := PyFloat(x); got != want {
			t.Errorf("PyFloat(%v) = %q, want %q", x, got, want)
		}
	}
	for x, want := range map[float64]string{math.Inf(1): `"inf"`, math.Inf(-1): `"-inf"`, math.NaN(): `"nan"`} {
		if got := pyJSONFloat(x); got != want {
			t.Errorf("JSON %v = %s, want %s (strict JSON has no Infinity or NaN)", x, got, want)
		}
	}
}

func TestPyJSONString(t *testing.T) {
	v := loadNumpyVectors(t)
	for _, c := range v.JSONStrings {
		if got := pyJSONString(c[0]); got != c[1] {
			t.Errorf("pyJSONString(%q) = %s, want %s", c[0], got, c[1])
		}
	}
	if got := pyJSONString("a\xffb"); got != `"a\ufffdb"` {
		t.Errorf("invalid UTF-8 = %s", got)
	}
}
