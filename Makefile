# mapcount-lab: the two commands of README.md, and a few helpers.
BUILD      ?= build
BUILD_SAN  ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

PREFIX     ?= /usr/local

.PHONY: all deps build build-asan test run install baseline bench fuzz format clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DMAPCOUNT_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD_SAN) -j$(JOBS)

FUZZ_SECONDS ?= 60

# The whole suite, again under ASan+UBSan, then each fuzz target for 30 s.
test: build build-asan
	@scripts/web-deps
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@cd $(BUILD_SAN) && ctest --output-on-failure -j$(JOBS)
	@scripts/fuzz 30
	@n=$$(( $$(cd $(BUILD) && ctest -N | sed -n 's/^Total Tests: //p') + \
		$$(cd $(BUILD_SAN) && ctest -N | sed -n 's/^Total Tests: //p') + 3 )); \
		echo "make test: release, ASan+UBSan and fuzz suites"; \
		echo "tests: $$n passed, 0 failed"

# libFuzzer targets, FUZZ_SECONDS each, after their regression inputs.
fuzz: deps
	@scripts/fuzz $(FUZZ_SECONDS)

run: build
	@scripts/web-deps --no-browser
	@scripts/run

# Throughput, memory and scale benchmarks; see docs/performance.md.
bench: build
	@bench/run.sh $(BUILD)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

# Regenerate the scenario baseline that `make test` gates regressions on,
# after a change that is meant to alter results (review the diff).
baseline: build
	@$(BUILD)/mapcount replay --jobs $(JOBS) --format json traces/scenarios | \
		sed 's/"ns_per_event": [0-9.e+-]*/"ns_per_event": 0/' > tests/baseline/scenarios.json
	@echo "wrote tests/baseline/scenarios.json"

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
