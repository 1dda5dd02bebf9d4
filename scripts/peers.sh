#!/usr/bin/env bash
# Installs the Debian packages the latency lab's peer engines need, and only
# those that are missing; when all are present it prints one line. The build
# compiles each packaged peer only when its package is found (lab/peers/), so
# none of these is needed to build or test steadymap itself: `make peers`
# runs this, then the normal build. Safe to run any number of times.
set -euo pipefail

packages=(
    liburcu-dev             # "urcu": liburcu's rculfhash
    libck-dev               # "ck_ht": Concurrency Kit's ck_ht and ck_epoch
    libcuckoo-dev           # "libcuckoo": cuckoohash_map (C++ headers)
    libtbb-dev              # "tbb_chm": oneTBB's concurrent_hash_map
    libboost1.81-dev        # "boost_flat*": boost::unordered_flat_map (headers)
    libglib2.0-dev          # "glib_rw": GLib's GHashTable and GRWLock
    g++                     # the C++ peers' compiler
    golang-go               # the Go peers (lab/external/)
    openjdk-17-jdk-headless # the Java peers (lab/external/)
)

if ! command -v dpkg >/dev/null 2>&1; then
    echo "peers.sh: not a Debian system; the lab builds the peers it finds among: ${packages[*]}" >&2
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    # As in deps.sh: the installed state itself, not mere knowledge of the
    # package (dpkg also knows removed packages whose configuration remains).
    status=$(dpkg-query --show --showformat='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "peers.sh: all ${#packages[@]} peer packages are installed"
    exit 0
fi

echo "peers.sh: missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "peers.sh: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

set -x
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
