# Shortcuts for the common CMake invocations. Every target that builds first
# runs scripts/deps.sh, so `make demo` or `make test` work on a fresh Debian 12
# machine. Anything here can also be done with cmake and ctest directly.
#
#   make              Release build in build/
#   make test         build, then run every test
#   make sanitize     build and test under ThreadSanitizer (build-tsan/) and
#                     AddressSanitizer+UBSan (build-asan/)
#   make bench        build, then run the micro-benchmark
#   make demo         build, then run the latency lab's demo (into lab-report/)
#   make peers        install the lab's peer maps (scripts/peers.sh), then build
#   make install      install into $(PREFIX)
#   make clean        remove the build directories
#
# Extra CMake settings go in CMAKE_FLAGS, e.g.
#   make test CMAKE_FLAGS=-DSTEADYMAP_WERROR=ON

BUILD      ?= build
PREFIX     ?= /usr/local
JOBS       ?= 2
CMAKE_FLAGS ?=
# Two tests at a time fill the two cores; a stress test's threads then share
# them with one other test, which costs it operations per second, not
# correctness, and halves the wall time of the whole suite.
CTEST_JOBS ?= 2

# cmake --build runs make again below this one; its directory messages are noise.
MAKEFLAGS += --no-print-directory

CTEST = ctest --output-on-failure -j$(CTEST_JOBS)

.PHONY: all deps test sanitize sanitize-tsan sanitize-asan bench demo \
        peers install clean

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

deps:
	scripts/deps.sh

test: all
	$(CTEST) --test-dir $(BUILD)

sanitize: sanitize-tsan sanitize-asan

# The benchmark measures speed, which a sanitizer distorts, so it is not built;
# the lab is, because its tests run here too. A report stops the run at the
# first error (TSan would otherwise only fail at exit).
sanitize-tsan: SANITIZER = thread
sanitize-tsan: export TSAN_OPTIONS = halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/lab_engines/tsan.supp
sanitize-asan: SANITIZER = address
sanitize-asan: export ASAN_OPTIONS = halt_on_error=1:abort_on_error=1:detect_leaks=1
sanitize-asan: export UBSAN_OPTIONS = halt_on_error=1:print_stacktrace=1

sanitize-tsan sanitize-asan: sanitize-%: deps
	cmake -S . -B build-$* -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DSTEADYMAP_SANITIZE=$(SANITIZER) -DSTEADYMAP_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-$* -j$(JOBS)
	$(CTEST) --test-dir build-$*

bench: all
	@if [ ! -x $(BUILD)/bench/steadymap-bench ]; then \
	    echo "steadymap-bench was not built: bench/CMakeLists.txt is missing" >&2; \
	    exit 1; \
	fi
	$(BUILD)/bench/steadymap-bench

demo: all
	@if [ -x $(BUILD)/lab/steadymap-lab ]; then \
	    echo "$(BUILD)/lab/steadymap-lab demo --output lab-report"; \
	    $(BUILD)/lab/steadymap-lab demo --output lab-report; \
	else \
	    echo "the lab is not built yet; running the basic example instead"; \
	    $(BUILD)/examples/basic; \
	fi

# The packages first, so that the build's configure step finds the peers.
peers:
	scripts/peers.sh
	$(MAKE) all

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-tsan build-asan
