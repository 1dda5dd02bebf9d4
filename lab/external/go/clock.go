// clock.go — timestamps with the rules of lab/harness/clock.c: the invariant
// TSC where the CPU has one and two 25 ms calibrations against the monotonic
// clock agree within 0.1 %, the monotonic clock otherwise. Pacing waits as
// lab_wait_until does, except where Go's timers differ (see waitUntil).
package main

import (
	"math/bits"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

var (
	clockBase  = time.Now()
	useTSC     bool
	ticksPerNs        = 1.0
	tickMult   uint64 = 1 << 32 // ns = ticks * tickMult >> 32
	// Waits longer than this sleep; the rest is spun or yielded.
	sleepMarginTicks uint64
)

// monoNs uses the monotonic reading only: time.Since of a Time that has one
// is a single runtime nanotime call.
func monoNs() uint64 { return uint64(time.Since(clockBase)) }

func ticks() uint64 {
	if useTSC {
		return rdtsc()
	}
	return monoNs()
}

func ticksToNs(t uint64) uint64 {
	hi, lo := bits.Mul64(t, tickMult)
	return hi<<32 | lo>>32
}

func nsToTicks(ns uint64) uint64 { return uint64(float64(ns) * ticksPerNs) }

func invariantTSC() bool {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	s := string(info)
	return strings.Contains(s, " constant_tsc") && strings.Contains(s, " nonstop_tsc")
}

func calibrateOnce() float64 {
	n0, t0 := monoNs(), rdtsc()
	for monoNs()-n0 < 25_000_000 {
	}
	n1, t1 := monoNs(), rdtsc()
	return float64(t1-t0) / float64(n1-n0)
}

func clockInit() {
	if tscAvailable && invariantTSC() {
		a, b := calibrateOnce(), calibrateOnce()
		if d := (a - b) / a; d < 0.001 && d > -0.001 {
			useTSC = true
			ticksPerNs = (a + b) / 2
			tickMult = uint64(float64(uint64(1)<<32) / ticksPerNs)
		}
	}
	// The 90th percentile lateness of a 50 us sleep, plus 10 us, as the C
	// harness measures its own. Go wakes a sleeper through its timer code,
	// about 1 ms late on an idle process, so the margin is that large.
	late := make([]uint64, 21)
	for i := range late {
		a := ticks()
		time.Sleep(50 * time.Microsecond)
		d := ticksToNs(ticks() - a)
		if d > 50_000 {
			late[i] = d - 50_000
		}
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	sleepMarginTicks = nsToTicks(late[len(late)*9/10] + 10_000)
}

// waitUntil returns once ticks() >= target. It sleeps while the target is
// further away than the margin. The rest is spun when every worker has a
// core (spin), as lab_wait_until does. Otherwise the C harness sleeps all
// the way, but a Go sleep ends ~1 ms late, which would put a 1 ms floor
// under every open-loop latency that is about Go's timers, not the map; so
// the rest is yielded instead: a yielding goroutine hands its P to any
// runnable goroutine at once, so workers do not starve each other.
func waitUntil(target uint64, spin bool) {
	now := ticks()
	if target > now+sleepMarginTicks {
		time.Sleep(time.Duration(ticksToNs(target - now - sleepMarginTicks)))
	}
	for ticks() < target {
		if !spin {
			runtime.Gosched()
		}
	}
}
