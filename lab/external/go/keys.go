// keys.go — the lab's key streams, ported bit for bit from lab/harness/keys.h
// and the seeding in lab/harness/run.c, so that a Go run issues exactly the
// operations, on exactly the keys, that an in-process C run with the same
// --seed issues. The `streams` mode prints a digest of these streams that the
// lab_external test recomputes with the C originals.
package main

import (
	"math"
	"math/bits"
)

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func keyOf(index, salt uint64) uint64 { return mix(index + salt) }

// unmix is mix backwards, as lab_unmix in keys.h: the iterator check turns a
// key back into the index it was made from.
func unmix(x uint64) uint64 {
	x ^= (x >> 31) ^ (x >> 62)
	x *= 0x319642b2d24d8ec3
	x ^= (x >> 27) ^ (x >> 54)
	x *= 0x96de1b173f119089
	x ^= (x >> 30) ^ (x >> 60)
	return x
}

func indexOf(key, salt uint64) uint64 { return unmix(key) - salt }

func valueOf(key uint64) uint64 { return mix(key ^ 0x5851f42d4c957f2d) }

// The salt of a run's key space and the seed of worker i's stream, as
// lab_run_salt and lab_worker_seed in run.c compute them.
func runSalt(seed uint64) uint64 { return mix(seed ^ 0x6a09e667f3bcc909) }

func workerSeed(seed uint64, i int) uint64 { return seed*0x100000001b3 + uint64(i) }

// xoshiro256**, seeded through splitmix64 as lab_rng_seed does.
type rng struct{ s [4]uint64 }

func newRng(seed uint64) rng {
	var r rng
	for i := range r.s {
		seed += 0x9e3779b97f4a7c15
		r.s[i] = mix(seed)
	}
	return r
}

func (r *rng) next() uint64 {
	s := &r.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// below is Lemire's multiply-shift: the high word of the 128-bit product.
func (r *rng) below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

func (r *rng) unit() float64 { return float64(r.next()>>11) * 0x1p-53 }

// zipf draws ranks as lab_zipf_next does. Its constants come from the lab on
// the command line (computed by the C lab_zipf_init) rather than being
// recomputed here: the O(n) zeta sum in another libm could differ in its
// last bits, and every draw would inherit the difference.
type zipf struct {
	n                                      uint64
	theta, alpha, zetan, eta, halfPowTheta float64
}

func (z *zipf) next(r *rng) uint64 {
	u := r.unit()
	uz := u * z.zetan
	if uz < 1.0 {
		return 0
	}
	if uz < 1.0+z.halfPowTheta {
		return 1
	}
	rank := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1.0, z.alpha))
	if rank < z.n {
		return rank
	}
	return z.n - 1
}

// streamsDigest folds the first draws of workers 0..3 into one word; the
// lab_external test computes the same digest from keys.h (PROTOCOL.md gives
// the order).
func streamsDigest(seed, keys uint64, z *zipf) uint64 {
	h := uint64(0)
	fold := func(x uint64) { h = mix(h ^ x) }
	salt := runSalt(seed)
	for i := 0; i < 4; i++ {
		r := newRng(workerSeed(seed, i))
		for j := uint64(0); j < 1000; j++ {
			fold(r.next())
			fold(r.below(keys))
			fold(r.below(100))
			if z != nil {
				fold(z.next(&r))
			}
			fold(math.Float64bits(r.unit()))
			fold(keyOf(j, salt))
			fold(valueOf(keyOf(j, salt)))
		}
	}
	return h
}
