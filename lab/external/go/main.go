// main.go — steadymap-peer-go: the Go half of the lab's out-of-process peers.
// steadymap-lab starts it once per measured run (or memory measurement) with
// every parameter on the command line and reads the result from its standard
// output; lab/external/PROTOCOL.md is the contract between the two.
//
// Modes:
//
//	run      one scenario, one engine, one load model: prints a result
//	memory   RSS before create, after filling, after deleting 90 %
//	streams  a digest of the key streams, for the lab_external test
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "steadymap-peer-go: %s (started by steadymap-lab; see lab/external/PROTOCOL.md)\n", msg)
	os.Exit(2)
}

// args holds --name=value options; each getter removes what it reads, so
// leftovers are reported as unknown.
type args map[string]string

func parseArgs(list []string) args {
	a := args{}
	for _, s := range list {
		if !strings.HasPrefix(s, "--") || !strings.Contains(s, "=") {
			usage("bad argument " + s)
		}
		kv := strings.SplitN(s[2:], "=", 2)
		a[kv[0]] = kv[1]
	}
	return a
}

func (a args) str(name string) string {
	v, ok := a[name]
	if !ok {
		usage("missing --" + name)
	}
	delete(a, name)
	return v
}

func (a args) u64(name string) uint64 {
	v, err := strconv.ParseUint(a.str(name), 10, 64)
	if err != nil {
		usage("bad --" + name)
	}
	return v
}

func (a args) f64(name string) float64 {
	v, err := strconv.ParseFloat(a.str(name), 64)
	if err != nil {
		usage("bad --" + name)
	}
	return v
}

func (a args) flag(name string) bool { return a.u64(name) != 0 }

// zipf: n,theta,alpha,zetan,eta,half_pow_theta, the floats in C's %a form.
func (a args) zipf() *zipf {
	v, ok := a["zipf"]
	if !ok {
		return nil
	}
	delete(a, "zipf")
	f := strings.Split(v, ",")
	if len(f) != 6 {
		usage("bad --zipf")
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	fl := make([]float64, 5)
	for i := range fl {
		if err == nil {
			fl[i], err = strconv.ParseFloat(f[i+1], 64)
		}
	}
	if err != nil {
		usage("bad --zipf")
	}
	return &zipf{n: n, theta: fl[0], alpha: fl[1], zetan: fl[2], eta: fl[3], halfPowTheta: fl[4]}
}

func (a args) done() {
	for k := range a {
		usage("unknown option --" + k)
	}
}

func checkEngine(name string) {
	if newEngine(name, 0) == nil {
		usage("unknown engine " + name)
	}
}

func runMode(a args) {
	p := &params{engine: a.str("engine"), workload: a.str("workload")}
	checkEngine(p.engine)
	switch p.workload {
	case "mixed", "growth", "churn":
	default:
		usage("bad --workload")
	}
	switch a.str("model") {
	case "open":
		p.open = true
	case "closed":
	default:
		usage("bad --model")
	}
	p.threads = int(a.u64("threads"))
	p.writers = int(a.u64("writers"))
	p.keys = a.u64("keys")
	p.seed = a.u64("seed")
	p.durationMs = a.u64("duration-ms")
	p.capMs = a.u64("cap-ms")
	p.rate = a.f64("rate")
	mix := strings.Split(a.str("mix"), ",")
	if len(mix) != 3 {
		usage("bad --mix")
	}
	for i, dst := range []*uint64{&p.mixGet, &p.mixPut, &p.mixDel} {
		v, err := strconv.ParseUint(mix[i], 10, 64)
		if err != nil {
			usage("bad --mix")
		}
		*dst = v
	}
	p.zipf = a.zipf()
	p.presized = a.flag("presized")
	p.iterator = a.flag("iterator")
	p.spin = a.flag("spin")
	// Every peer run is a new process and Go has no JIT to warm: a fresh
	// scenario needs nothing different here (the Java peer uses it).
	a.flag("fresh")
	a.done()
	if p.threads < 1 || p.keys < 1 || (p.workload == "growth" && p.writers < 1) ||
		(p.open && p.rate <= 0) {
		usage("bad thread, key or rate count")
	}
	clockInit()
	writeResult(newRun(p).execute())
}

func sparse(out *bufio.Writer, tag string, h *hist) {
	fmt.Fprintf(out, "%s %d %d %d %d %d", tag, h.count, h.sum, h.min, h.max, h.clamped)
	for i, c := range h.counts {
		if c != 0 {
			fmt.Fprintf(out, " %d:%d", i, c)
		}
	}
	out.WriteByte('\n')
}

func writeResult(o *outcome) {
	r := o.r
	total, gets, late := newHist(), newHist(), newHist()
	var errValue, errMissing, notIssued, passes, passNs uint64
	hitCap := false
	used := 0
	lastEnd := r.t0
	for _, w := range r.w {
		errValue += w.errValue
		errMissing += w.errMissing
		hitCap = hitCap || w.hitCap
		if w.role == roleIterator {
			passes += w.passes
			passNs += w.passNs
			continue
		}
		notIssued += w.notIssued
		total.merge(&w.getHist)
		total.merge(&w.writeHist)
		gets.merge(&w.getHist)
		late.merge(&w.late)
		if w.windowsUsed > used {
			used = w.windowsUsed
		}
		if w.lastEnd > lastEnd {
			lastEnd = w.lastEnd
		}
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	fmt.Fprintf(out, "steadymap-peer-result 2\n")
	fmt.Fprintf(out, "seconds %.9f\n", float64(ticksToNs(lastEnd-r.t0))/1e9)
	fmt.Fprintf(out, "errors %d %d 0\n", errValue, errMissing)
	fmt.Fprintf(out, "not_issued %d\n", notIssued)
	capped := 0
	if hitCap {
		capped = 1
	}
	fmt.Fprintf(out, "hit_cap %d\n", capped)
	fmt.Fprintf(out, "preemptions %d\n", o.preempted)
	mean := 0.0
	if passes > 0 {
		mean = float64(passNs) / float64(passes)
	}
	fmt.Fprintf(out, "iterations %d %.1f\n", passes, mean)
	sparse(out, "hist", &total)
	sparse(out, "gethist", &gets)
	sparse(out, "late", &late)
	for j := 0; j < used; j++ {
		var win window
		for _, w := range r.w {
			if w.role != roleIterator && j < w.windowsUsed {
				win.merge(&w.windows[j])
			}
		}
		fmt.Fprintf(out, "window %d %d %d", j, win.count, win.max)
		for i, c := range win.hist {
			if c != 0 {
				fmt.Fprintf(out, " %d:%d", i, c)
			}
		}
		out.WriteByte('\n')
	}
	for _, s := range o.rss {
		fmt.Fprintf(out, "rss %d %d\n", s.tNs, s.bytes)
	}
	fmt.Fprintf(out, "end\n")
	if out.Flush() != nil {
		os.Exit(1)
	}
}

func memoryMode(a args) {
	name := a.str("engine")
	keys := a.u64("keys")
	seed := a.u64("seed")
	a.done()
	checkEngine(name)
	salt := runSalt(seed)
	base := rssBytes()
	e := newEngine(name, 0)
	for i := uint64(0); i < keys; i++ {
		k := keyOf(i, salt)
		e.put(k, valueOf(k))
	}
	full := rssBytes()
	// Every tenth key stays, as lab/harness/memory.c deletes them.
	for i := uint64(0); i < keys; i++ {
		if i%10 != 0 {
			e.del(keyOf(i, salt))
		}
	}
	debug.FreeOSMemory()
	after := rssBytes()
	runtime.KeepAlive(e)
	fmt.Printf("steadymap-peer-memory 1\nrss_base %d\nrss_full %d\nrss_after_delete %d\n", base, full, after)
	// at most 159 characters: lab_memory_result.note
	fmt.Printf("note %s: debug.FreeOSMemory() after the deletes (forced GC, free pages returned to the OS; GOGC=%s); maps never shrink their buckets\n",
		runtime.Version(), gogc())
	fmt.Printf("end\n")
}

func gogc() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	return "100"
}

func streamsMode(a args) {
	seed := a.u64("seed")
	keys := a.u64("keys")
	z := a.zipf()
	a.done()
	fmt.Printf("streams %016x\n", streamsDigest(seed, keys, z))
}

func main() {
	if len(os.Args) < 2 {
		usage("no mode")
	}
	a := parseArgs(os.Args[2:])
	switch os.Args[1] {
	case "run":
		runMode(a)
	case "memory":
		memoryMode(a)
	case "streams":
		streamsMode(a)
	default:
		usage("unknown mode " + os.Args[1])
	}
}
