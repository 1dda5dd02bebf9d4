// tsc_amd64.go — declares the assembly counter read (tsc_amd64.s).
package main

const tscAvailable = true

func rdtsc() uint64
