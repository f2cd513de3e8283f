package pyrand

import (
	"fmt"
	"math"
	"math/bits"
)

// uint128 is a 128-bit unsigned integer as a high and a low word.
type uint128 struct{ hi, lo uint64 }

func (a uint128) add(b uint128) uint128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	return uint128{a.hi + b.hi + carry, lo}
}

func (a uint128) mul(b uint128) uint128 {
	hi, lo := bits.Mul64(a.lo, b.lo)
	return uint128{hi + a.hi*b.lo + a.lo*b.hi, lo}
}

// pcgMultiplier is PCG's default 128-bit LCG multiplier.
var pcgMultiplier = uint128{2549297995355413924, 4865540595714422341}

// Generator is numpy.random.Generator over the PCG64 bit generator (XSL-RR
// output of a 128-bit LCG), as np.random.default_rng(seed) builds it.
type Generator struct {
	state, inc uint128
	// numpy's next_uint32 returns the low half of a 64-bit output and keeps
	// the high half for the next call.
	hasUint32 bool
	uinteger  uint32
}

// DefaultRNG returns the generator np.random.default_rng(seed) returns:
// PCG64 seeded through SeedSequence(seed). numpy rejects negative seeds.
func DefaultRNG(seed int64) (*Generator, error) {
	if seed < 0 {
		return nil, fmt.Errorf("numpy default_rng seed %d must not be negative", seed)
	}
	words := seedSequenceState(uint64(seed))
	g := &Generator{}
	initState := uint128{words[0], words[1]}
	initSeq := uint128{words[2], words[3]}
	g.inc = uint128{initSeq.hi<<1 | initSeq.lo>>63, initSeq.lo<<1 | 1}
	g.step()
	g.state = g.state.add(initState)
	g.step()
	return g, nil
}

// SeedSequence constants (numpy/random/bit_generator.pyx).
const (
	ssInitA    = 0x43b0d7e5
	ssMultA    = 0x931e8875
	ssInitB    = 0x8b51f9dd
	ssMultB    = 0x58f38ded
	ssMixMultL = 0xca01f9dd
	ssMixMultR = 0x4973f715
	ssXShift   = 16
	ssPoolSize = 4
)

// seedSequenceState is SeedSequence(seed).generate_state(4, np.uint64).
func seedSequenceState(seed uint64) [4]uint64 {
	entropy := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		entropy = append(entropy, hi)
	}
	hashConst := uint32(ssInitA)
	hashmix := func(v uint32) uint32 {
		v ^= hashConst
		hashConst *= ssMultA
		v *= hashConst
		return v ^ v>>ssXShift
	}
	mix := func(x, y uint32) uint32 {
		r := ssMixMultL*x - ssMixMultR*y
		return r ^ r>>ssXShift
	}
	var pool [ssPoolSize]uint32
	for i := range pool {
		var word uint32
		if i < len(entropy) {
			word = entropy[i]
		}
		pool[i] = hashmix(word)
	}
	for src := range pool {
		for dst := range pool {
			if src != dst {
				pool[dst] = mix(pool[dst], hashmix(pool[src]))
			}
		}
	}
	// entropy never has more than ssPoolSize words here, so no word is left
	// to mix in.

	var out [4]uint64
	h := uint32(ssInitB)
	for i := range 2 * len(out) {
		v := pool[i%ssPoolSize] ^ h
		h *= ssMultB
		v *= h
		v ^= v >> ssXShift
		out[i/2] |= uint64(v) << (32 * (i % 2))
	}
	return out
}

func (g *Generator) step() {
	g.state = g.state.mul(pcgMultiplier).add(g.inc)
}

// Uint64 is PCG64's next_uint64 (bit_generator.random_raw()).
func (g *Generator) Uint64() uint64 {
	g.step()
	return bits.RotateLeft64(g.state.hi^g.state.lo, -int(g.state.hi>>58))
}

// Uint32 is PCG64's next_uint32: the low half of a fresh 64-bit output, or
// the high half kept from the previous call.
func (g *Generator) Uint32() uint32 {
	if g.hasUint32 {
		g.hasUint32 = false
		return g.uinteger
	}
	next := g.Uint64()
	g.hasUint32 = true
	g.uinteger = uint32(next >> 32)
	return uint32(next)
}

// Advance is PCG64.advance(delta): it jumps the LCG delta steps ahead and
// drops the kept 32-bit half.
func (g *Generator) Advance(delta uint64) {
	// Brown's jump-ahead: compose the affine map x -> a*x + c with itself.
	accMult, accPlus := uint128{0, 1}, uint128{}
	curMult, curPlus := pcgMultiplier, g.inc
	for ; delta > 0; delta >>= 1 {
		if delta&1 != 0 {
			accMult = accMult.mul(curMult)
			accPlus = accPlus.mul(curMult).add(curPlus)
		}
		curPlus = curMult.add(uint128{0, 1}).mul(curPlus)
		curMult = curMult.mul(curMult)
	}
	g.state = accMult.mul(g.state).add(accPlus)
	g.hasUint32 = false
	g.uinteger = 0
}

// Integers is one draw of Generator.integers(low, high) (high excluded,
// int64 output); an array draw of size n is n such draws in order. It uses
// numpy's unmasked Lemire method, on 32-bit outputs when high-1-low fits in
// 32 bits, and draws nothing when high-1 == low. It panics if low >= high,
// where numpy raises ValueError.
func (g *Generator) Integers(low, high int64) int64 {
	if low >= high {
		panic(fmt.Sprintf("pyrand: Integers(%d, %d): low >= high", low, high))
	}
	rng := uint64(high) - 1 - uint64(low)
	var off uint64
	switch {
	case rng == 0:
	case rng < math.MaxUint32:
		off = uint64(g.lemire32(uint32(rng)))
	case rng == math.MaxUint32:
		off = uint64(g.Uint32())
	default:
		off = g.lemire64(rng)
	}
	return int64(uint64(low) + off)
}

// lemire32 is numpy's buffered_bounded_lemire_uint32: a uniform integer in
// [0, rng] for rng < 2^32-1.
func (g *Generator) lemire32(rng uint32) uint32 {
	excl := rng + 1
	m := uint64(g.Uint32()) * uint64(excl)
	if leftover := uint32(m); leftover < excl {
		threshold := (math.MaxUint32 - rng) % excl
		for leftover < threshold {
			m = uint64(g.Uint32()) * uint64(excl)
			leftover = uint32(m)
		}
	}
	return uint32(m >> 32)
}

// lemire64 is numpy's bounded_lemire_uint64: a uniform integer in [0, rng]
// for 2^32-1 < rng < 2^64-1.
func (g *Generator) lemire64(rng uint64) uint64 {
	excl := rng + 1
	hi, lo := bits.Mul64(g.Uint64(), excl)
	if lo < excl {
		threshold := (math.MaxUint64 - rng) % excl
		for lo < threshold {
			hi, lo = bits.Mul64(g.Uint64(), excl)
		}
	}
	return hi
}
