package metrics

import (
	"math"
	"slices"
)

// The statistics below reproduce numpy's float64 algorithms operation for
// operation, so results are bit-identical to np.sum, np.mean, np.std,
// np.median and np.percentile (method "linear") as vLLM calls them.

// numpyBufferSize is numpy's ufunc buffer size: a reduction adds the pairwise
// sums of consecutive blocks of this many elements.
const numpyBufferSize = 8192

// Sum is np.sum of a float64 array.
func Sum(a []float64) float64 {
	sum := 0.0
	for start := 0; start < len(a); start += numpyBufferSize {
		sum += pairwiseSum(a[start:min(start+numpyBufferSize, len(a))])
	}
	return sum
}

// pairwiseSum is numpy's pairwise_sum for float64.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, x := range a {
			res += x
		}
		return res
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			r[0] += a[i]
			r[1] += a[i+1]
			r[2] += a[i+2]
			r[3] += a[i+3]
			r[4] += a[i+4]
			r[5] += a[i+5]
			r[6] += a[i+6]
			r[7] += a[i+7]
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		m := n / 2
		m -= m % 8
		return pairwiseSum(a[:m]) + pairwiseSum(a[m:])
	}
}

// Mean is np.mean; NaN for an empty slice.
func Mean(a []float64) float64 {
	return Sum(a) / float64(len(a))
}

// Std is np.std (population, ddof=0).
func Std(a []float64) float64 {
	return stdAround(a, Mean(a))
}

// stdAround is np.std given the array's np.mean: numpy materialises the
// squared deviations and sums them with the same blocked pairwise sum.
func stdAround(a []float64, mean float64) float64 {
	var sq blockSum
	for _, x := range a {
		d := x - mean
		sq.add(d * d)
	}
	return math.Sqrt(sq.total() / float64(len(a)))
}

// Median is np.median.
func Median(a []float64) float64 {
	s := sortedCopy(a)
	return medianAt(len(s), func(i int) float64 { return s[i] })
}

// Percentile is np.percentile(a, p) with the default "linear" method.
func Percentile(a []float64, p float64) float64 {
	s := sortedCopy(a)
	return percentileAt(len(s), p, func(i int) float64 { return s[i] })
}

func sortedCopy(a []float64) []float64 {
	s := slices.Clone(a)
	slices.Sort(s)
	return s
}

// medianAt is np.median of n values, at(i) being the i-th smallest: numpy
// takes the mean of the middle one or two, which for two is
// (0.0 + lo + hi) / 2.
func medianAt(n int, at func(int) float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return 0.0 + at(n/2)
	}
	return (0.0 + at(n/2-1) + at(n/2)) / 2
}

// percentileAt is np.percentile of n values, at(i) being the i-th smallest.
func percentileAt(n int, p float64, at func(int) float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	v := float64(n-1) * (p / 100)
	if v >= float64(n-1) {
		return at(n - 1)
	}
	if v < 0 {
		return at(0)
	}
	lo := math.Floor(v)
	t := v - lo
	i := int(lo)
	x, y := at(i), at(i+1)
	d := y - x
	// float64() keeps the compiler from fusing into an FMA: numpy rounds the
	// product before the addition.
	if t < 0.5 {
		return x + float64(d*t)
	}
	return y - float64(d*(1-t))
}
