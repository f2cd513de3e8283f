package metrics

import (
	"slices"
	"testing"
)

func TestSeriesKeepsOrderAcrossChunks(t *testing.T) {
	var s series[int]
	var want []int
	next := 0
	for batch := 0; len(want) < 3*seriesChunk+17; batch++ {
		values := make([]int, batch%5000)
		for i := range values {
			values[i] = next
			next++
		}
		s.add(values...)
		want = append(want, values...)
	}
	if got := s.flat(); s.n != len(want) || !slices.Equal(got, want) {
		t.Fatalf("series holds %d values, want %d in order", s.n, len(want))
	}
	for i, c := range s.chunks[:len(s.chunks)-1] {
		if len(c) != seriesChunk {
			t.Errorf("chunk %d holds %d values, want %d", i, len(c), seriesChunk)
		}
	}
}
