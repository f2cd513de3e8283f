package pyrand

import (
	"fmt"
	"math"
)

// RandomState is numpy's legacy numpy.random.RandomState (also the global
// np.random functions), with the legacy gamma and Gaussian algorithms.
type RandomState struct {
	mt       MT19937
	hasGauss bool
	gauss    float64
}

// NewRandomState returns a generator in the state np.random.seed(seed)
// leaves; numpy accepts seeds in [0, 2^32).
func NewRandomState(seed int64) (*RandomState, error) {
	if seed < 0 || seed > math.MaxUint32 {
		return nil, fmt.Errorf("numpy seed %d must be between 0 and 2**32 - 1", seed)
	}
	s := &RandomState{}
	s.mt.InitGenrand(uint32(seed))
	return s, nil
}

// RandomSample is random_sample(): a double in [0, 1).
func (s *RandomState) RandomSample() float64 { return s.mt.Float64() }

// StandardExponential is the legacy standard_exponential(): -log(1 - U).
func (s *RandomState) StandardExponential() float64 {
	return -Log(1.0 - s.mt.Float64())
}

// Exponential is exponential(scale).
func (s *RandomState) Exponential(scale float64) float64 {
	return scale * s.StandardExponential()
}

// gaussPolar is the legacy polar Box-Muller: each pair of accepted uniforms
// yields two normals; the second is cached for the next call.
func (s *RandomState) gaussPolar() float64 {
	if s.hasGauss {
		s.hasGauss = false
		g := s.gauss
		s.gauss = 0
		return g
	}
	var x1, x2, r2 float64
	for {
		x1 = float64(2.0*s.mt.Float64()) - 1.0
		x2 = float64(2.0*s.mt.Float64()) - 1.0
		r2 = float64(x1*x1) + float64(x2*x2)
		if r2 < 1.0 && r2 != 0.0 {
			break
		}
	}
	f := math.Sqrt(-2.0 * Log(r2) / r2)
	s.gauss = f * x1
	s.hasGauss = true
	return f * x2
}

// StandardNormal is the legacy standard_normal() (polar method, cached pair).
func (s *RandomState) StandardNormal() float64 { return s.gaussPolar() }

// StandardGamma is the legacy standard_gamma(shape) for shape >= 0.
// The float64() conversions keep each product rounded on its own, as the C
// code does, so no platform fuses them into one FMA.
func (s *RandomState) StandardGamma(shape float64) float64 {
	switch {
	case shape == 1.0:
		return s.StandardExponential()
	case shape == 0.0:
		return 0.0
	case shape < 1.0:
		for {
			u := s.mt.Float64()
			v := s.StandardExponential()
			if u <= 1.0-shape {
				x := Pow(u, 1.0/shape)
				if x <= v {
					return x
				}
			} else {
				y := -Log((1 - u) / shape)
				x := Pow(1.0-shape+float64(shape*y), 1.0/shape)
				if x <= v+y {
					return x
				}
			}
		}
	default:
		b := shape - 1.0/3.0
		c := 1.0 / math.Sqrt(9*b)
		for {
			var x, v float64
			for {
				x = s.gaussPolar()
				v = 1.0 + float64(c*x)
				if v > 0.0 {
					break
				}
			}
			v = v * v * v
			u := s.mt.Float64()
			if u < 1.0-float64(float64(0.0331*float64(x*x))*float64(x*x)) {
				return b * v
			}
			if Log(u) < float64(0.5*x*x)+float64(b*(1.0-v+Log(v))) {
				return b * v
			}
		}
	}
}

// Gamma is gamma(shape, scale) = scale * standard_gamma(shape).
func (s *RandomState) Gamma(shape, scale float64) float64 {
	return scale * s.StandardGamma(shape)
}
