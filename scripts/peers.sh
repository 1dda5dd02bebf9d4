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

source "$(dirname "${BASH_SOURCE[0]}")/install-missing.sh"
install_missing peers.sh "peer" "${packages[@]}"
