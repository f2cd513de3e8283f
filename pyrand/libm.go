package pyrand

import "math"

// numpy's legacy generators call the C library's log and pow. Go's math.Log
// and math.Pow differ from them in the last bit for about 3% and 47% of
// inputs (the 8th exponential draw of seed 0 is one). With cgo, Log and Pow
// call the C library itself (libm_cgo.go), which reproduces numpy on the same
// machine. Without cgo they evaluate in double-double arithmetic (about 104
// bits) and round once: the correctly rounded result, which is what glibc
// returns except for inputs within ~0.01 ulp of a rounding midpoint (about 3
// in 10,000 log calls and 8 in 10,000 pow calls differ, by one ulp).

// dd is an unevaluated sum hi + lo with |lo| <= ulp(hi)/2.
type dd struct{ hi, lo float64 }

func twoSum(a, b float64) dd {
	s := a + b
	bb := s - a
	return dd{s, (a - (s - bb)) + (b - bb)}
}

func quickTwoSum(a, b float64) dd {
	s := a + b
	return dd{s, b - (s - a)}
}

func twoProd(a, b float64) dd {
	p := a * b
	return dd{p, math.FMA(a, b, -p)}
}

func (x dd) add(y dd) dd {
	s := twoSum(x.hi, y.hi)
	t := twoSum(x.lo, y.lo)
	s = quickTwoSum(s.hi, s.lo+t.hi)
	return quickTwoSum(s.hi, s.lo+t.lo)
}

func (x dd) mul(y dd) dd {
	p := twoProd(x.hi, y.hi)
	return quickTwoSum(p.hi, p.lo+(x.hi*y.lo+x.lo*y.hi))
}

func (x dd) mulFloat(y float64) dd {
	p := twoProd(x.hi, y)
	return quickTwoSum(p.hi, p.lo+x.lo*y)
}

func (x dd) div(y dd) dd {
	q1 := x.hi / y.hi
	r := x.add(y.mulFloat(-q1))
	q2 := r.hi / y.hi
	r = r.add(y.mulFloat(-q2))
	q3 := r.hi / y.hi
	return quickTwoSum(q1, q2).add(dd{q3, 0})
}

var (
	ln2 = dd{0x1.62e42fefa39efp-01, 0x1.abc9e3b39803fp-56}
	// oddInverses[k] = 1/(2k+1): the atanh series of log.
	oddInverses = inverses(22, func(k int) float64 { return float64(2*k + 1) })
	// factorialInverses[n] = 1/n!: the Taylor series of exp.
	factorialInverses = factorials(26)
)

func inverses(n int, den func(int) float64) []dd {
	out := make([]dd, n)
	for k := range out {
		out[k] = dd{1, 0}.div(dd{den(k), 0})
	}
	return out
}

func factorials(n int) []dd {
	out := make([]dd, n)
	f := dd{1, 0}
	for k := range out {
		if k > 0 {
			f = f.mulFloat(float64(k))
		}
		out[k] = dd{1, 0}.div(f)
	}
	return out
}

// logDD is log(x) in double-double for finite x > 0:
// x = m * 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)).
func logDD(x float64) dd {
	m, e := math.Frexp(x)
	if m < math.Sqrt2/2 {
		m *= 2
		e--
	}
	s := dd{m - 1, 0}.div(twoSum(m, 1))
	s2 := s.mul(s)
	p := oddInverses[len(oddInverses)-1]
	for k := len(oddInverses) - 2; k >= 0; k-- {
		p = p.mul(s2).add(oddInverses[k])
	}
	return ln2.mulFloat(float64(e)).add(s.mul(p).mulFloat(2))
}

// correctlyRoundedLog is the natural logarithm rounded once to nearest.
func correctlyRoundedLog(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 1) || x == 1 {
		return math.Log(x)
	}
	if x < 0x1p-1022 { // subnormal: scale into the normal range
		return logDD(x * 0x1p54).add(ln2.mulFloat(-54)).hi
	}
	return logDD(x).hi
}

// expDD is exp(t) for a double-double t whose result is a normal double.
func expDD(t dd) float64 {
	k := math.Round(t.hi / ln2.hi)
	r := t.add(ln2.mulFloat(-k))
	sum := factorialInverses[len(factorialInverses)-1]
	for n := len(factorialInverses) - 2; n >= 0; n-- {
		sum = sum.mul(r).add(factorialInverses[n])
	}
	return math.Ldexp(sum.hi, int(k)) + math.Ldexp(sum.lo, int(k))
}

// correctlyRoundedPow is x**y rounded once to nearest for finite x > 0 and
// finite y; other arguments follow math.Pow, which has C's special cases.
func correctlyRoundedPow(x, y float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) || math.IsInf(y, 0) || math.IsNaN(y) || x == 1 || y == 0 || y == 1 {
		return math.Pow(x, y)
	}
	var l dd
	if x < 0x1p-1022 {
		l = logDD(x * 0x1p54).add(ln2.mulFloat(-54))
	} else {
		l = logDD(x)
	}
	t := l.mulFloat(y)
	switch {
	case t.hi > 709.8:
		return math.Inf(1)
	case t.hi < -745.2:
		return 0
	}
	return expDD(t)
}
