# skein — top-level entry points. `make demo` and `make test` install the
# Debian packages they need, configure with CMake presets and build.
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: deps build demo test test-debug test-asan test-tsan fuzz bench clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

demo: build
	./build/release/examples/quickstart

test: build
	ctest --preset release -j $(JOBS) $(CTEST_ARGS)

test-debug: deps
	cmake --preset debug && cmake --build --preset debug -j $(JOBS)
	ctest --preset debug -j $(JOBS) $(CTEST_ARGS)

# Core and scheduler tests under the sanitizers (see CMakePresets.json).
test-asan: deps
	cmake --preset asan && cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) -L sanitize $(CTEST_ARGS)

test-tsan: deps
	cmake --preset tsan && cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS) -L sanitize $(CTEST_ARGS)

# Decoders under libFuzzer, each for a bounded time (FUZZ_SECONDS, default 60).
FUZZ_SECONDS ?= 60
fuzz: deps
	cmake --preset fuzz && cmake --build --preset fuzz -j $(JOBS)
	for f in value_decode_fuzzer table_lent_fuzzer array_program_fuzzer npy_fuzzer zarr_fuzzer csv_fuzzer dataframe_plan_fuzzer json_fuzzer parquet_fuzzer wire_fuzzer; do \
	  mkdir -p build/fuzz/corpus/$$f && \
	  ./build/fuzz/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 build/fuzz/corpus/$$f fuzz/seeds/$$f || exit 1; \
	done

bench: build
	./bench/run

clean:
	rm -rf build
