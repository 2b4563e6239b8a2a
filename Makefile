# Sluice build. `make` builds build/sluice; `make check` builds and runs every test.
#   make SANITIZE=address,undefined BUILD=build-asan ...   same tests under sanitizers
#   make fuzz        libFuzzer targets (clang) in build-fuzz/; fuzz-smoke: short runs; fuzz-long: FUZZ_SECONDS each
#   make valgrind    the main integration suites with every daemon under valgrind's memcheck
#   make bench       the benchmark programs: build/sluice-bench, filter-bench, table-bench, sync-probe
#   make console-test   the web console in headless chromium (tests/console); console-shots: its pictures in docs/console
#   make crashloop CYCLES=200 [FSYNC=interval] [CRASHLOOP_ARGS="--damage --seed 7"]   the long crash loop
#                  (CRASHLOOP_ARGS="--power-loss": a simulated power loss after each kill)

CC       ?= cc
BUILD    ?= build
SANITIZE ?=
PKGS     := yaml-0.1 openssl uuid libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
# `override` so that `make CFLAGS=-O1` changes optimisation, not the include paths
override CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -Iinclude $(PKG_CFLAGS) -fno-strict-aliasing
override LDLIBS  += $(PKG_LIBS) -lpthread -lm
ifneq ($(SANITIZE),)
override CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(filter-out src/daemon/main.c,$(sort $(wildcard src/*/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEPS     := $(LIB_OBJ:.o=.d) $(BUILD)/obj/src/daemon/main.d $(BUILD)/obj/tests/unit/harness.d

.PHONY: all check unit asan-unit integration fuzz fuzz-smoke fuzz-long valgrind bench clean run crashloop \
        console-test console-shots
all: $(BUILD)/sluice $(BUILD)/examples/workers.so $(BUILD)/examples/runtime-c/bootstrap

# The seeds' workers as a plugin (examples/workers/c), and the plugins the
# unit tests load. Plugins are built without sanitizers: they are loaded
# into whichever daemon or test runs them.
PLUGIN_LIBS := $(shell pkg-config --libs jansson uuid)
$(BUILD)/examples/workers.so: examples/workers/c/workers.c include/sluice_plugin.h
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -g -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -o $@ $< $(PLUGIN_LIBS)
# A compiled Lambda runtime (runtime API client) that serves plugin handlers
# out of process.
$(BUILD)/examples/runtime-c/bootstrap: examples/runtimes/c/runtime.c include/sluice_plugin.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -o $@ $< -ldl
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/sluice_plugin.h
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -o $@ $< $(PLUGIN_LIBS) -lpthread

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The web console's files are built into the binary (.incbin, relative to
# this directory): console_http.o depends on them.
CONSOLE_FILES := console/index.html console/app.js console/style.css console/favicon.svg
$(BUILD)/obj/src/proto/console_http.o build-fuzz/obj/src/proto/console_http.o: $(CONSOLE_FILES)

$(BUILD)/libsluice.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/obj/src/daemon/main.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/obj/tests/unit/harness.o $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/obj/tests/unit/harness.o $(BUILD)/libsluice.a $(LDLIBS)

$(BUILD)/sluice-bench: bench/bench.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Filter-set matching cost per message (not part of check): build/filter-bench
$(BUILD)/filter-bench: bench/filter_bench.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A table's put/replace/get/scan cost at 1M UUID keys (not part of check): build/table-bench
$(BUILD)/table-bench: bench/table_bench.c $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# One fdatasync's cost, appending or overwriting, with busy CPUs (not part of check): build/sync-probe
$(BUILD)/sync-probe: bench/sync_probe.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpthread

unit: $(UNIT_BIN) $(TEST_PLUGINS)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

run: all
	./$(BUILD)/sluice serve --config examples/calculator/sluice.yaml

bench: $(BUILD)/sluice $(BUILD)/sluice-bench $(BUILD)/filter-bench $(BUILD)/table-bench $(BUILD)/sync-probe

# The sanitizer pass: the same unit tests and the integration suite against
# an ASan+UBSan daemon, in a build tree of their own.
asan-unit:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined CFLAGS="-O1 -g" unit build-asan/sluice

integration: $(BUILD)/sluice $(BUILD)/sluice-bench $(BUILD)/examples/workers.so $(BUILD)/examples/runtime-c/bootstrap $(TEST_PLUGINS)
	SLUICE_BIN=$(abspath $(BUILD)/sluice) tests/integration/run.sh

# kill -9 under load, restart, repeat, then check the history (docs/RELIABILITY.md);
# `check` runs a short one through tests/integration/test_crashloop.py.
CYCLES ?= 200
FSYNC  ?= always
crashloop: $(BUILD)/sluice
	python3 tests/crash/crashloop.py --bin $(BUILD)/sluice --cycles $(CYCLES) --fsync $(FSYNC) -v $(CRASHLOOP_ARGS)

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Iinclude -Ifuzz $(PKG_CFLAGS)
FUZZ_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o)
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
build-fuzz/libsluice.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: fuzz/%.c fuzz/fuzz.h build-fuzz/libsluice.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< build-fuzz/libsluice.a $(LDLIBS)
fuzz: $(FUZZ_BIN)
# Each target runs over its seed corpus plus a bounded number of fresh inputs.
fuzz-smoke: fuzz
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	  echo "== $$n"; $$f -runs=$${FUZZ_RUNS:-20000} -max_len=65536 build-fuzz/corpus/$$n fuzz/corpus/$$n; done

# A longer session: each target for FUZZ_SECONDS (default 300), its new
# inputs kept in build-fuzz/corpus/; the last line of each is libFuzzer's
# "Done N runs in S second(s)". A crash stops it with the input saved.
fuzz-long: fuzz
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	  echo "== $$n"; $$f -max_total_time=$${FUZZ_SECONDS:-300} -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/$$n- build-fuzz/corpus/$$n fuzz/corpus/$$n >build-fuzz/$$n.log 2>&1 || \
	    { tail -40 build-fuzz/$$n.log; exit 1; }; \
	  grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)" build-fuzz/$$n.log; done

# The integration suites most of the daemon's paths run through, each daemon
# under valgrind's memcheck (an error or a definite leak fails the test).
# The suites that only measure timing or kill the daemon skip themselves.
VALGRIND_TESTS ?= test_smoke test_messages test_batches test_fifo test_sns test_gateway test_http test_sigv4 \
                  test_example_calculator
valgrind: $(BUILD)/sluice $(BUILD)/sluice-bench $(BUILD)/examples/workers.so $(TEST_PLUGINS)
	cd tests/integration && SLUICE_VALGRIND=1 SLUICE_BIN=$(abspath $(BUILD)/sluice) \
	  python3 -W ignore::ResourceWarning -m unittest $(VALGRIND_TESTS)

# The web console in headless Chromium (tests/console, docs/CONSOLE.md):
# Debian's chromium driven by playwright-core (npm ci, pinned by its lock
# file). Skipped, with a message, without chromium or node and npm.
# console-shots runs the same and keeps each view's picture in docs/console/.
CHROMIUM ?= /usr/bin/chromium
console-test: $(BUILD)/sluice $(BUILD)/examples/workers.so
	@if [ ! -x "$(CHROMIUM)" ]; then echo "console-test: skipped: no chromium at $(CHROMIUM) (scripts/deps.sh --test)"; \
	elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then echo "console-test: skipped: no node or npm"; \
	else cd tests/console && npm ci --no-audit --no-fund --loglevel=error && \
	  CHROMIUM=$(CHROMIUM) CONSOLE_SHOTS=$(CONSOLE_SHOTS) SLUICE_BIN=$(abspath $(BUILD)/sluice) node --test console.test.mjs; fi
console-shots:
	$(MAKE) console-test CONSOLE_SHOTS=docs/console

check: all unit asan-unit integration fuzz-smoke valgrind
	SLUICE_BIN=$(abspath build-asan/sluice) SLUICE_ASAN=1 tests/integration/run.sh
	$(MAKE) console-test

clean:
	rm -rf build build-asan build-fuzz

-include $(DEPS) $(FUZZ_OBJ:.o=.d)
