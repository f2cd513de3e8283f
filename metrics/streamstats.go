package metrics

import (
	"maps"
	"math"
	"slices"
)

// streamStats computes numpy's mean, std, median and percentiles of a list
// too long to hold (a long run's ITL gaps: 127 M at the real shape), bit for
// bit, from passes over the same values in the same order.
//
// Pass 1 sums the values in numpy's order and counts them by the leading
// firstBits of an order-preserving key. Pass 2 sums the squared deviations
// from the mean and, for each wanted order statistic, both keeps the
// distinct values that share its leading bits (with their counts) and
// counts those values by their next bits. When the distinct values fit the
// budget the statistic is found; otherwise the counts narrow it for one more
// pass. Every pass resolves at least 16 more bits of the key, so there are
// at most four.
type streamStats struct {
	passes      int // passes ended
	n           int
	sum, sqSum  blockSum
	mean        float64
	pages       [1 << pageBits]*page // pass 1
	open        []*keyRange          // order statistics still to find
	found       map[int]float64      // order statistics by 0-based rank
	maxDistinct int
}

const (
	firstBits = 24 // 12 mantissa bits: buckets 1/4096 of a value wide
	pageBits  = 12 // sign and exponent
	nextBits  = 16
	// DefaultMaxDistinct is how many distinct values a pass holds while it
	// looks for order statistics, when Options.MaxDistinct is 0 (~40 MB).
	DefaultMaxDistinct = 1 << 20
)

type page [1 << (firstBits - pageBits)]int

// keyRange is the values whose keys share their leading Bits.
type keyRange struct {
	Bits   int
	Prefix uint64
	Below  int   // values with a lower key: the rank of the range's first value
	Ranks  []int // wanted ranks within the range, ascending
	// This pass: counts by the next bits, and the distinct keys with their
	// counts until there are more than limit (then nil and overflowed).
	Next       []int
	Values     map[uint64]int
	Overflowed bool
	Limit      int
}

// streamState is what a streamStats holds, for a checkpoint.
type streamState struct {
	Passes, N  int
	Sum, SqSum blockSum
	Mean       float64
	Pages      map[int]*page
	Open       []*keyRange
	Found      map[int]float64
}

func (s *streamStats) state() streamState {
	st := streamState{Passes: s.passes, N: s.n, Sum: s.sum, SqSum: s.sqSum, Mean: s.mean, Open: s.open, Found: s.found, Pages: map[int]*page{}}
	for i, p := range s.pages {
		if p != nil {
			st.Pages[i] = p
		}
	}
	return st
}

func (s *streamStats) restore(st streamState) {
	s.passes, s.n, s.sum, s.sqSum, s.mean, s.open, s.found = st.Passes, st.N, st.Sum, st.SqSum, st.Mean, st.Open, st.Found
	s.pages = [1 << pageBits]*page{}
	for i, p := range st.Pages {
		s.pages[i] = p
	}
	for _, r := range s.open {
		if r.Values == nil && !r.Overflowed {
			r.Values = map[uint64]int{}
		}
	}
}

// orderKey maps floats to integers in the same order (negatives below
// positives, -0 just below +0).
func orderKey(x float64) uint64 {
	b := math.Float64bits(x)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func keyValue(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// add takes the next value of the current pass.
func (s *streamStats) add(x float64) {
	if s.passes == 0 {
		s.n++
		s.sum.add(x)
		k := orderKey(x)
		p := &s.pages[k>>(64-pageBits)]
		if *p == nil {
			*p = new(page)
		}
		(*p)[(k>>(64-firstBits))&(1<<(firstBits-pageBits)-1)]++
		return
	}
	if s.passes == 1 {
		d := x - s.mean
		s.sqSum.add(d * d)
	}
	k := orderKey(x)
	for _, r := range s.open {
		if k>>(64-r.Bits) != r.Prefix {
			continue
		}
		rest := 64 - r.Bits
		take := min(nextBits, rest)
		r.Next[(k>>(rest-take))&(1<<take-1)]++
		if !r.Overflowed {
			r.Values[k]++
			if len(r.Values) > r.Limit {
				r.Values, r.Overflowed = nil, true
			}
		}
	}
}

// endPass ends a pass; it reports whether the statistics need another to
// find the mean, std, median and the given percentiles.
func (s *streamStats) endPass(percentiles []float64) bool {
	if s.passes == 0 {
		s.mean = s.sum.total() / float64(s.n)
		s.found = map[int]float64{}
		s.open = s.firstRanges(orderRanks(s.n, percentiles))
		s.pages = [1 << pageBits]*page{}
	} else {
		s.open = s.narrow()
	}
	s.passes++
	if s.n == 0 {
		return false
	}
	for _, r := range s.open {
		r.Next = make([]int, 1<<min(nextBits, 64-r.Bits))
		r.Values, r.Overflowed, r.Limit = map[uint64]int{}, false, max(1, s.maxDistinct/len(s.open))
	}
	return s.passes == 1 || len(s.open) > 0
}

// firstRanges places each wanted rank in its pass-1 bucket.
func (s *streamStats) firstRanges(ranks []int) []*keyRange {
	var out []*keyRange
	below := 0
	for p, pg := range s.pages {
		if pg == nil {
			continue
		}
		for i, c := range pg {
			if c == 0 {
				continue
			}
			if in := ranksWithin(ranks, below, below+c); len(in) > 0 {
				out = append(out, &keyRange{Bits: firstBits, Prefix: uint64(p)<<(firstBits-pageBits) | uint64(i), Below: below, Ranks: in})
			}
			below += c
		}
	}
	return out
}

// narrow finds the ranks of the ranges whose distinct values were held, and
// splits the others by their next bits.
func (s *streamStats) narrow() []*keyRange {
	var out []*keyRange
	for _, r := range s.open {
		below := r.Below
		if !r.Overflowed {
			for _, k := range slices.Sorted(maps.Keys(r.Values)) {
				c := r.Values[k]
				for _, rank := range ranksWithin(r.Ranks, below, below+c) {
					s.found[rank] = keyValue(k)
				}
				below += c
			}
			continue
		}
		take := min(nextBits, 64-r.Bits)
		for i, c := range r.Next {
			if c == 0 {
				continue
			}
			if in := ranksWithin(r.Ranks, below, below+c); len(in) > 0 {
				sub := &keyRange{Bits: r.Bits + take, Prefix: r.Prefix<<take | uint64(i), Below: below, Ranks: in}
				if sub.Bits == 64 {
					for _, rank := range in {
						s.found[rank] = keyValue(sub.Prefix)
					}
				} else {
					out = append(out, sub)
				}
			}
			below += c
		}
	}
	return out
}

func ranksWithin(ranks []int, lo, hi int) []int {
	i, _ := slices.BinarySearch(ranks, lo)
	j, _ := slices.BinarySearch(ranks, hi)
	return ranks[i:j]
}

// describe is the statistics in milliseconds once the last pass has ended.
func (s *streamStats) describe(percentiles []float64) Stats {
	st := Stats{Percentiles: make([]PercentileValue, len(percentiles))}
	if s.n == 0 {
		for i, p := range percentiles {
			st.Percentiles[i] = PercentileValue{P: p}
		}
		return st
	}
	at := func(rank int) float64 { return s.found[rank] }
	st.Mean = s.mean * 1000
	st.Std = math.Sqrt(s.sqSum.total()/float64(s.n)) * 1000
	st.Median = medianAt(s.n, at) * 1000
	for i, p := range percentiles {
		st.Percentiles[i] = PercentileValue{P: p, Value: percentileAt(s.n, p, at) * 1000}
	}
	return st
}

// orderRanks are the 0-based ranks np.median and np.percentile read from a
// sorted list of n values, ascending.
func orderRanks(n int, percentiles []float64) []int {
	set := map[int]bool{}
	note := func(rank int) float64 { set[rank] = true; return 0 }
	medianAt(n, note)
	for _, p := range percentiles {
		percentileAt(n, p, note)
	}
	return slices.Sorted(maps.Keys(set))
}

// blockSum is Sum over values that arrive one at a time: numpy adds the
// pairwise sums of consecutive numpyBufferSize blocks.
type blockSum struct {
	Total float64
	Block []float64
}

func (b *blockSum) add(x float64) {
	if b.Block == nil {
		b.Block = make([]float64, 0, numpyBufferSize)
	}
	b.Block = append(b.Block, x)
	if len(b.Block) == numpyBufferSize {
		b.Total += pairwiseSum(b.Block)
		b.Block = b.Block[:0]
	}
}

func (b *blockSum) total() float64 {
	if len(b.Block) == 0 {
		return b.Total
	}
	return b.Total + pairwiseSum(b.Block)
}
