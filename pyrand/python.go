package pyrand

import "math/bits"

// Random is Python's random.Random (CPython 3.x, seed version 2) for
// integer seeds.
type Random struct {
	mt MT19937
}

// NewRandom returns a generator in the state random.seed(seed) leaves.
func NewRandom(seed int64) *Random {
	r := &Random{}
	r.Seed(seed)
	return r
}

// Seed is random.seed(seed) for an int: init_by_array over the 32-bit words
// of |seed|, least significant first (0 gives the key [0]).
func (r *Random) Seed(seed int64) {
	mag := uint64(seed)
	if seed < 0 {
		mag = -mag
	}
	key := []uint32{uint32(mag)}
	if hi := uint32(mag >> 32); hi != 0 {
		key = append(key, hi)
	}
	r.mt.InitByArray(key)
}

// Random is random.random(): a double in [0, 1).
func (r *Random) Random() float64 { return r.mt.Float64() }

// GetRandBits is random.getrandbits(k) for 0 <= k <= 64.
func (r *Random) GetRandBits(k int) uint64 {
	if k < 0 || k > 64 {
		panic("pyrand: GetRandBits supports 0..64 bits")
	}
	if k == 0 {
		return 0
	}
	if k <= 32 {
		return uint64(r.mt.Uint32() >> (32 - k))
	}
	lo := uint64(r.mt.Uint32())
	hi := uint64(r.mt.Uint32() >> (64 - k))
	return hi<<32 | lo
}

// RandBelow is random._randbelow(n) for n > 0: rejection sampling on
// getrandbits(n.bit_length()). It is what randrange, choice and shuffle use.
func (r *Random) RandBelow(n int) int {
	if n <= 0 {
		panic("pyrand: RandBelow needs n > 0")
	}
	k := bits.Len64(uint64(n))
	v := r.GetRandBits(k)
	for v >= uint64(n) {
		v = r.GetRandBits(k)
	}
	return int(v)
}

// Choice is the index random.choice(seq) picks from a sequence of length n.
func (r *Random) Choice(n int) int { return r.RandBelow(n) }

// ChoicesIndex is the index one draw of random.choices(seq) (no weights)
// picks from a sequence of length n: floor(random() * n).
func (r *Random) ChoicesIndex(n int) int {
	return int(r.Random() * float64(n))
}

// Shuffle is random.shuffle over n elements: Fisher-Yates from the end.
func (r *Random) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.RandBelow(i+1))
	}
}
