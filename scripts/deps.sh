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

if ! command -v dpkg >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; make sure these are installed: ${packages[*]}" >&2
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    # The Status field `dpkg -s` prints; removed packages whose configuration
    # files remain are known to dpkg too, so the state itself is compared.
    status=$(dpkg-query --show --showformat='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps.sh: all ${#packages[@]} build and test packages are installed"
    exit 0
fi

echo "deps.sh: missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "deps.sh: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

set -x
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
