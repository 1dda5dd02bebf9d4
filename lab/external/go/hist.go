// hist.go — the lab's log-linear histograms (lab/harness/histogram.h), with
// the same bucketing, so the buckets this program sends back are added into
// a lab_hist / lab_window index for index by the C side.
package main

import "math/bits"

const (
	histSubBits   = 7
	windowSubBits = 4
	histTopExp    = 40
	histBuckets   = (2 << histSubBits) + (histTopExp-histSubBits)*(1<<histSubBits)
	windowBuckets = (2 << windowSubBits) + (histTopExp-windowSubBits)*(1<<windowSubBits)
)

func bucketIndex(v uint64, b uint) int {
	if v < 2<<b {
		return int(v)
	}
	if v>>(histTopExp+1) != 0 {
		v = 1<<(histTopExp+1) - 1
	}
	k := uint(63 - bits.LeadingZeros64(v))
	return (2 << b) + int(k-b-1)*(1<<b) + int((v>>(k-b))-(1<<b))
}

type hist struct {
	count, sum, min, max, clamped uint64
	counts                        [histBuckets]uint64
}

func newHist() hist { return hist{min: ^uint64(0)} }

func (h *hist) record(ns uint64) {
	h.count++
	h.sum += ns
	if ns < h.min {
		h.min = ns
	}
	if ns > h.max {
		h.max = ns
	}
	if ns>>(histTopExp+1) != 0 {
		h.clamped++
	}
	h.counts[bucketIndex(ns, histSubBits)]++
}

func (h *hist) merge(o *hist) {
	h.count += o.count
	h.sum += o.sum
	h.clamped += o.clamped
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// One 10 ms slice of one worker's timeline.
type window struct {
	count uint32
	hist  [windowBuckets]uint32
	max   uint64
}

func (w *window) record(ns uint64) {
	w.count++
	if ns > w.max {
		w.max = ns
	}
	w.hist[bucketIndex(ns, windowSubBits)]++
}

func (w *window) merge(o *window) {
	w.count += o.count
	if o.max > w.max {
		w.max = o.max
	}
	for i, c := range o.hist {
		w.hist[i] += c
	}
}
