//go:build !amd64

// tsc_other.go — no counter to read: clock.go then uses the monotonic clock.
package main

const tscAvailable = false

func rdtsc() uint64 { return 0 }
