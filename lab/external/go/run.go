// run.go — one measured run, the worker loops of lab/harness/run.c in Go:
// the same roles (mixed, growth writer and reader, churn, iterator), the same
// operation choice from the same streams, the same checks of every get, the
// same closed and open loops and the same 10 ms timeline windows. Comments
// here explain where Go makes this differ; the reasons for the loops
// themselves are in run.c.
package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const windowNs = 10_000_000

const (
	roleMixed = iota
	roleWriter
	roleReader
	roleChurn
	roleIterator
)

const (
	opGet = iota
	opPut
	opDel
)

type params struct {
	engine                   string
	workload                 string
	open                     bool
	threads, writers         int
	keys, seed               uint64
	durationMs, capMs        uint64
	rate                     float64
	mixGet, mixPut, mixDel   uint64
	zipf                     *zipf
	presized, iterator, spin bool
}

type worker struct {
	r                        *run
	id                       int
	role                     int
	rng                      rng
	getHist, writeHist       hist // gets apart from writes, as run.c keeps them
	late                     hist
	windows                  []window
	windowIndex, windowsUsed int
	windowEnd, lastEnd       uint64
	errValue, errMissing     uint64
	notIssued                uint64
	hitCap                   bool
	next, lo, hi             uint64
	passes, passNs           uint64
	// growth writer: keys in so far; on a cache line of its own, because
	// every reader polls it while the writer bumps it
	_        [64]byte
	inserted atomic.Uint64
	_        [56]byte
}

type run struct {
	p                      *params
	e                      engine
	salt                   uint64
	windowCapacity         int
	t0, endTicks, capTicks uint64
	windowTicks            uint64
	writersRunning         atomic.Int32
	writersEnd             atomic.Uint64 // growth: when the last writer returned
	measuredRunning        atomic.Int32
	w                      []*worker
}

type op struct {
	kind      int
	key       uint64
	mustExist bool
}

func (w *worker) nextOp(o *op) bool {
	r := w.r
	p := r.p
	switch w.role {
	case roleMixed:
		var idx uint64
		if p.zipf != nil {
			idx = p.zipf.next(&w.rng)
		} else {
			idx = w.rng.below(p.keys)
		}
		pick := w.rng.below(100)
		switch {
		case pick < p.mixGet:
			o.kind = opGet
		case pick < p.mixGet+p.mixPut:
			o.kind = opPut
		default:
			o.kind = opDel
		}
		o.key = keyOf(idx, r.salt)
		o.mustExist = p.mixDel == 0
		return true
	case roleWriter:
		idx := uint64(w.id) + w.next*uint64(p.writers)
		if idx >= p.keys {
			return false
		}
		o.kind = opPut
		o.key = keyOf(idx, r.salt)
		o.mustExist = false
		return true
	case roleReader:
		wr := w.rng.below(uint64(p.writers))
		n := r.w[wr].inserted.Load()
		o.kind = opGet
		if n == 0 {
			o.key = keyOf(w.rng.below(p.keys), r.salt)
			o.mustExist = false
		} else {
			o.key = keyOf(wr+w.rng.below(n)*uint64(p.writers), r.salt)
			o.mustExist = true
		}
		return true
	case roleChurn:
		t := uint64(p.threads)
		live := p.keys / t
		pick := w.rng.below(100)
		id := uint64(w.id)
		switch {
		case w.hi == w.lo:
			o.kind = opPut
			o.key = keyOf(id+w.hi*t, r.salt)
			w.hi++
		case pick < p.mixGet:
			o.kind = opGet
			o.key = keyOf(id+(w.lo+w.rng.below(w.hi-w.lo))*t, r.salt)
		case w.hi-w.lo <= live:
			o.kind = opPut
			o.key = keyOf(id+w.hi*t, r.salt)
			w.hi++
		default:
			o.kind = opDel
			o.key = keyOf(id+w.lo*t, r.salt)
			w.lo++
		}
		o.mustExist = o.kind != opPut
		return true
	}
	return false
}

func (w *worker) record(h *hist, start, end uint64) {
	r := w.r
	ns := ticksToNs(end - start)
	h.record(ns)
	if end >= w.windowEnd {
		idx := 0
		if end > r.t0 {
			idx = int((end - r.t0) / r.windowTicks)
		}
		if idx >= r.windowCapacity {
			idx = r.windowCapacity - 1
		}
		w.windowIndex = idx
		w.windowEnd = r.t0 + uint64(idx+1)*r.windowTicks
		if idx+1 > w.windowsUsed {
			w.windowsUsed = idx + 1
		}
	}
	w.windows[w.windowIndex].record(ns)
	w.lastEnd = end
}

func (w *worker) execute(o *op, start uint64) {
	e := w.r.e
	switch o.kind {
	case opGet:
		v, ok := e.get(o.key)
		end := ticks()
		w.record(&w.getHist, start, end)
		if !ok {
			if o.mustExist {
				w.errMissing++
			}
		} else if v != valueOf(o.key) {
			w.errValue++
		}
	case opPut:
		e.put(o.key, valueOf(o.key))
		w.record(&w.writeHist, start, ticks())
		if w.role == roleWriter {
			w.next++
			w.inserted.Store(w.next)
		}
	default:
		ok := e.del(o.key)
		w.record(&w.writeHist, start, ticks())
		if !ok && o.mustExist {
			w.errMissing++
		}
	}
}

func (w *worker) othersDone() bool {
	return w.role == roleReader && w.r.writersRunning.Load() == 0
}

// readerDoneAt: as the C harness's reader_done_at, an open-loop reader of
// growth issues every get that was due before the writers finished, so the
// backlog a stall built is counted, not dropped.
func (w *worker) readerDoneAt(intended uint64) bool {
	return w.role == roleReader && w.r.writersRunning.Load() == 0 &&
		intended >= w.r.writersEnd.Load()
}

func (w *worker) closedLoop() {
	r := w.r
	timed := w.role != roleWriter && w.role != roleReader
	var o op
	for i := uint64(0); ; i++ {
		if i&15 == 0 {
			now := ticks()
			if now >= r.capTicks {
				w.hitCap = true
				break
			}
			if (timed && now >= r.endTicks) || w.othersDone() {
				break
			}
		}
		if !w.nextOp(&o) {
			break
		}
		w.execute(&o, ticks())
	}
}

func (w *worker) openLoop() {
	r := w.r
	timed := w.role != roleWriter && w.role != roleReader
	interval := float64(nsToTicks(1_000_000_000)) / r.p.rate
	phase := r.t0 + uint64(interval*float64(w.id)/float64(r.p.threads))
	var o op
	for i := uint64(0); ; i++ {
		intended := phase + uint64(interval*float64(i))
		if (timed && intended >= r.endTicks) || w.readerDoneAt(intended) {
			break
		}
		now := ticks()
		if now >= r.capTicks {
			w.hitCap = true
			if timed {
				w.notIssued = uint64(float64(r.endTicks-intended)/interval) + 1
			}
			break
		}
		if !w.nextOp(&o) {
			break
		}
		if now < intended {
			waitUntil(intended, r.p.spin)
			w.late.record(ticksToNs(ticks() - intended))
		}
		w.execute(&o, intended)
	}
}

func (w *worker) iterateLoop() {
	r := w.r
	seenBits := make([]uint64, (r.p.keys+63)/64)
	for r.measuredRunning.Load() > 0 {
		for i := range seenBits {
			seenBits[i] = 0
		}
		distinct, wrong := uint64(0), uint64(0)
		a := ticks()
		r.e.iterate(func(k, v uint64) {
			i := indexOf(k, r.salt)
			if i >= r.p.keys || v != valueOf(k) {
				wrong++
				return
			}
			if seenBits[i/64]&(1<<(i%64)) == 0 {
				seenBits[i/64] |= 1 << (i % 64)
				distinct++
			}
		})
		w.passes++
		w.passNs += ticksToNs(ticks() - a)
		w.errValue += wrong
		// Every key was pre-filled and none is deleted: each must be seen.
		if distinct < r.p.keys {
			w.errMissing++
		}
	}
}

func newRun(p *params) *run {
	r := &run{p: p, salt: runSalt(p.seed)}
	r.windowCapacity = int(p.capMs*1_000_000/windowNs) + 2
	r.windowTicks = nsToTicks(windowNs)
	n := p.threads
	if p.iterator {
		n++
	}
	for i := 0; i < n; i++ {
		w := &worker{r: r, id: i, rng: newRng(workerSeed(p.seed, i)), getHist: newHist(), writeHist: newHist(), late: newHist()}
		switch {
		case i >= p.threads:
			w.role = roleIterator
		case p.workload == "growth" && i < p.writers:
			w.role = roleWriter
		case p.workload == "growth":
			w.role = roleReader
		case p.workload == "churn":
			w.role = roleChurn
		default:
			w.role = roleMixed
		}
		// Written before the run: fresh pages from the OS are only
		// mapped, and the first write to each would fault mid-measurement.
		w.windows = make([]window, r.windowCapacity)
		for j := range w.windows {
			w.windows[j] = window{}
		}
		r.w = append(r.w, w)
	}
	return r
}

func (r *run) prefill() {
	p := r.p
	switch p.workload {
	case "mixed":
		for i := uint64(0); i < p.keys; i++ {
			k := keyOf(i, r.salt)
			r.e.put(k, valueOf(k))
		}
	case "churn":
		t := uint64(p.threads)
		live := p.keys / t
		for i := uint64(0); i < t; i++ {
			for j := uint64(0); j < live; j++ {
				k := keyOf(i+j*t, r.salt)
				r.e.put(k, valueOf(k))
			}
			r.w[i].lo, r.w[i].hi = 0, live
		}
	}
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// involuntary context switches of the whole process: goroutines move
// between OS threads, so there is no per-worker count to take as the C
// harness does with RUSAGE_THREAD; this one includes the runtime's own
// threads (GC workers, sysmon).
func preemptions() uint64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return uint64(ru.Nivcsw)
}

type rssSample struct{ tNs, bytes uint64 }

type outcome struct {
	r         *run
	rss       []rssSample
	preempted uint64
}

func (r *run) execute() *outcome {
	p := r.p
	hint := uint64(0)
	if p.presized {
		hint = p.keys
	}
	r.e = newEngine(p.engine, hint)
	r.prefill()
	r.writersRunning.Store(int32(p.writers))
	if p.workload != "growth" {
		r.writersRunning.Store(0)
	}
	r.measuredRunning.Store(int32(p.threads))
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for _, w := range r.w {
		ready.Add(1)
		done.Add(1)
		go func(w *worker) {
			defer done.Done()
			ready.Done()
			<-start
			waitUntil(r.t0, true)
			if w.role == roleIterator {
				w.iterateLoop()
				return
			}
			if p.open && w.role != roleWriter {
				w.openLoop()
			} else {
				w.closedLoop()
			}
			if w.role == roleWriter {
				end := ticks()
				for seen := r.writersEnd.Load(); seen < end && !r.writersEnd.CompareAndSwap(seen, end); seen = r.writersEnd.Load() {
				}
				r.writersRunning.Add(-1)
			}
			r.measuredRunning.Add(-1)
		}(w)
	}
	ready.Wait()
	out := &outcome{r: r}
	before := preemptions()
	r.t0 = ticks() + nsToTicks(1_000_000)
	r.endTicks = r.t0 + nsToTicks(p.durationMs*1_000_000)
	r.capTicks = r.t0 + nsToTicks(p.capMs*1_000_000)
	close(start)
	out.rss = make([]rssSample, 0, r.windowCapacity+16)
	for r.measuredRunning.Load() > 0 {
		now := ticks()
		if now >= r.t0 && len(out.rss) < cap(out.rss) {
			out.rss = append(out.rss, rssSample{ticksToNs(now - r.t0), rssBytes()})
		}
		time.Sleep(windowNs)
	}
	done.Wait()
	out.preempted = preemptions() - before
	return out
}
