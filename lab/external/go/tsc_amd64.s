// tsc_amd64.s — the time stamp counter, fenced as lab/harness/clock.h reads
// it, so a Go latency carries the same instrument cost as a C one (Go's own
// monotonic clock costs ~55 ns a read on the development VM, more than a
// short map operation).

#include "textflag.h"

// func rdtsc() uint64
TEXT ·rdtsc(SB), NOSPLIT, $0-8
	LFENCE
	RDTSC
	LFENCE
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET
