package results_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/results"
)

// fetchPeak fetches 60 items of the given size (each get takes a
// millisecond) and returns the most results held at once (in flight,
// fetched ahead, or being used), checking that they arrive in order.
func fetchPeak(t *testing.T, n int, maxBytes, size int64) int {
	t.Helper()
	items := make([]int, 60)
	for i := range items {
		items[i] = i
	}
	var mu sync.Mutex
	held, peak := 0, 0
	get := func(_ context.Context, i int) (int, error) {
		mu.Lock()
		held++
		peak = max(peak, held)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return i, nil
	}
	want := 0
	err := results.FetchOrderedWithin(context.Background(), n, maxBytes, func(int) int64 { return size }, items, get, func(i, v int) error {
		if i != want || v != want {
			t.Fatalf("got item %d (%d), want %d", i, v, want)
		}
		want++
		time.Sleep(100 * time.Microsecond)
		mu.Lock()
		held--
		mu.Unlock()
		return nil
	})
	if err != nil || want != len(items) {
		t.Fatalf("used %d of %d items (%v)", want, len(items), err)
	}
	return peak
}

// Results stay within the byte bound, counted at the largest size seen;
// one is always fetched ahead; without a bound, n are in flight.
func TestFetchOrderedWithinHoldsWhatFits(t *testing.T) {
	for _, c := range []struct {
		name           string
		n              int
		maxBytes, size int64
		wantPeak       int
	}{
		{"no bound", 16, 0, 1 << 20, 17},
		{"small results: n bounds", 16, 64 << 20, 1 << 20, 17},
		{"10 fit", 16, 10 << 20, 1 << 20, 10},
		{"larger than the bound: one ahead", 16, 64 << 20, 100 << 20, 2},
	} {
		if got := fetchPeak(t, c.n, c.maxBytes, c.size); got != c.wantPeak {
			t.Errorf("%s: %d results held at once, want %d", c.name, got, c.wantPeak)
		}
	}
}
