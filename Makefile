# mapcount-lab: the two commands of README.md, and a few helpers.
BUILD      ?= build
BUILD_SAN  ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

PREFIX     ?= /usr/local

.PHONY: all deps build build-asan test run install baseline format clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DMAPCOUNT_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD_SAN) -j$(JOBS)

# The whole suite, then the whole suite again under ASan+UBSan.
test: build build-asan
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@cd $(BUILD_SAN) && ctest --output-on-failure -j$(JOBS)
	@echo "make test: all suites passed (release and ASan+UBSan)"

run: build
	@scripts/run

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
	rm -rf $(BUILD) $(BUILD_SAN)
