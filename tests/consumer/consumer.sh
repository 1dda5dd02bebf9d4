#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds and runs
# examples/basic.c against that prefix the two ways a user would: pkg-config,
# and a CMake project calling find_package(steadymap). Every step must succeed;
# tests/consumer/CMakeLists.txt supplies the SM_* variables.
set -euo pipefail

for var in SM_BUILD_DIR SM_WORK_DIR SM_EXAMPLE SM_PROJECT SM_LIBDIR SM_CC \
           SM_CMAKE SM_PKG_CONFIG; do
    if [ -z "${!var:-}" ]; then
        echo "consumer: $var is not set; run this through ctest" >&2
        exit 1
    fi
done
san_flags=${SM_SANITIZER_FLAGS:-}
prefix=$SM_WORK_DIR/prefix
libdir=$prefix/$SM_LIBDIR

rm -rf "$SM_WORK_DIR"
mkdir -p "$SM_WORK_DIR"

echo "consumer: cmake --install $SM_BUILD_DIR --prefix $prefix"
"$SM_CMAKE" --install "$SM_BUILD_DIR" --prefix "$prefix" >"$SM_WORK_DIR/install.log"

# PKG_CONFIG_LIBDIR replaces the default search path, so a steadymap.pc
# installed elsewhere on this machine cannot stand in for the scratch one.
echo "consumer: pkg-config build"
pc_flags=$(PKG_CONFIG_LIBDIR=$libdir/pkgconfig \
           "$SM_PKG_CONFIG" --cflags --libs --static steadymap)
echo "consumer: pkg-config gave: $pc_flags"
# shellcheck disable=SC2086 # both flag lists are meant to split into words
"$SM_CC" -std=c11 -pedantic -Wall -Wextra -Werror $san_flags \
    "$SM_EXAMPLE" $pc_flags -o "$SM_WORK_DIR/basic-pkgconfig"
LD_LIBRARY_PATH=$libdir "$SM_WORK_DIR/basic-pkgconfig"

echo "consumer: find_package build"
"$SM_CMAKE" -S "$SM_PROJECT" -B "$SM_WORK_DIR/cmake-build" \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$SM_CC" \
    -DCMAKE_C_FLAGS="$san_flags" \
    -DSTEADYMAP_EXPECTED_PREFIX="$prefix" \
    -DSTEADYMAP_EXAMPLE="$SM_EXAMPLE" >"$SM_WORK_DIR/cmake-configure.log"
"$SM_CMAKE" --build "$SM_WORK_DIR/cmake-build" >"$SM_WORK_DIR/cmake-build.log"
"$SM_WORK_DIR/cmake-build/basic-shared"
"$SM_WORK_DIR/cmake-build/basic-static"

echo "consumer: the installed package works with pkg-config and find_package"
