package pyrand

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// pcg64Vectors is testdata/pcg64_vectors.json, written by numpy 1.24.2
// (gen_pcg64_vectors.py). 64-bit values are strings to survive JSON.
type pcg64Vectors struct {
	Seeds []struct {
		Seed     int64    `json:"seed"`
		StateHex string   `json:"state_hex"`
		IncHex   string   `json:"inc_hex"`
		Raw      []string `json:"raw"`
	} `json:"seeds"`
	Integers []struct {
		Seed           int64    `json:"seed"`
		Calls          [][3]any `json:"calls"`
		Draws          []string `json:"draws"`
		HasUint32After int      `json:"has_uint32_after"`
	} `json:"integers"`
	Advance []struct {
		Seed     int64   `json:"seed"`
		Delta    string  `json:"delta"`
		StateHex string  `json:"state_hex"`
		Next     []int64 `json:"next_integers_0_100"`
	} `json:"advance"`
}

func loadPCG64Vectors(t *testing.T) pcg64Vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/pcg64_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v pcg64Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Seeds) == 0 || len(v.Integers) == 0 || len(v.Advance) == 0 {
		t.Fatal("pcg64_vectors.json is missing cases")
	}
	return v
}

func hex128(u uint128) string { return fmt.Sprintf("%016x%016x", u.hi, u.lo) }

func mustRNG(t *testing.T, seed int64) *Generator {
	t.Helper()
	g, err := DefaultRNG(seed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDefaultRNGSeedingAndRawOutputs(t *testing.T) {
	for _, c := range loadPCG64Vectors(t).Seeds {
		g := mustRNG(t, c.Seed)
		if hex128(g.state) != c.StateHex || hex128(g.inc) != c.IncHex {
			t.Fatalf("seed %d: state %s inc %s, want %s %s", c.Seed, hex128(g.state), hex128(g.inc), c.StateHex, c.IncHex)
		}
		for i, want := range c.Raw {
			if got := strconv.FormatUint(g.Uint64(), 10); got != want {
				t.Fatalf("seed %d raw %d = %s, want %s", c.Seed, i, got, want)
			}
		}
	}
}

func TestIntegersMatchesNumpy(t *testing.T) {
	for ci, c := range loadPCG64Vectors(t).Integers {
		g := mustRNG(t, c.Seed)
		var got []string
		for _, call := range c.Calls {
			low, _ := strconv.ParseInt(call[0].(string), 10, 64)
			high, _ := strconv.ParseInt(call[1].(string), 10, 64)
			for range int(call[2].(float64)) {
				got = append(got, strconv.FormatInt(g.Integers(low, high), 10))
			}
		}
		if len(got) != len(c.Draws) {
			t.Fatalf("case %d: %d draws, want %d", ci, len(got), len(c.Draws))
		}
		for i := range got {
			if got[i] != c.Draws[i] {
				t.Fatalf("case %d (seed %d, calls %v) draw %d = %s, want %s", ci, c.Seed, c.Calls, i, got[i], c.Draws[i])
			}
		}
		if g.hasUint32 != (c.HasUint32After == 1) {
			t.Fatalf("case %d: kept 32-bit half %v, numpy %d", ci, g.hasUint32, c.HasUint32After)
		}
	}
}

func TestAdvanceMatchesNumpy(t *testing.T) {
	for _, c := range loadPCG64Vectors(t).Advance {
		g := mustRNG(t, c.Seed)
		g.Integers(0, 10)
		delta, err := strconv.ParseUint(c.Delta, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		g.Advance(delta)
		if hex128(g.state) != c.StateHex {
			t.Fatalf("seed %d advance %d: state %s, want %s", c.Seed, delta, hex128(g.state), c.StateHex)
		}
		for i, want := range c.Next {
			if got := g.Integers(0, 100); got != want {
				t.Fatalf("seed %d advance %d: draw %d = %d, want %d", c.Seed, delta, i, got, want)
			}
		}
	}
}

func TestAdvanceEqualsStepping(t *testing.T) {
	a, b := mustRNG(t, 99), mustRNG(t, 99)
	for range 777 {
		a.Uint64()
	}
	b.Advance(777)
	if a.state != b.state || a.Uint64() != b.Uint64() {
		t.Fatal("Advance(777) differs from 777 steps")
	}
}

func TestDefaultRNGRejectsNegativeSeed(t *testing.T) {
	if _, err := DefaultRNG(-1); err == nil {
		t.Fatal("negative seed accepted")
	}
}

func TestIntegersPanicsOnEmptyRange(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Integers(5, 5) did not panic")
		}
	}()
	mustRNG(t, 0).Integers(5, 5)
}
