#!/usr/bin/env bash
# Installs the Debian packages that building and testing steadymap need, and
# only those that are missing; when all are present it prints one line.
# Safe to run any number of times: `make` calls it before every build.
set -euo pipefail

# gcc brings libasan8, libtsan2 and libubsan1 along (libgcc-12-dev depends on
# them), so its sanitizers need nothing more. clang only recommends its
# runtime, which --no-install-recommends would skip, so it is listed.
packages=(
    cmake              # the build
    make               # the top-level Makefile
    gcc                # the compiler, with its sanitizer runtimes
    libc6-dev          # C headers and libc
    pkg-config         # finds cmocka; the consumer test uses steadymap.pc
    libcmocka-dev      # the unit-test framework
    libxxhash-dev      # xxhash.h: the string-key hash, compiled in header-only
    clang              # the second compiler, and libFuzzer
    libclang-rt-14-dev # clang's sanitizer and libFuzzer runtimes
    gnuplot-nox        # the lab's plots
    fonts-liberation   # a font for the plots' text (gnuplot only recommends one)
    systemtap-sdt-dev  # <sys/sdt.h>: the USDT probes at resize start/finish
)

source "$(dirname "${BASH_SOURCE[0]}")/install-missing.sh"
install_missing deps.sh "build and test" "${packages[@]}"
