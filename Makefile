# bllm: the only build entry point.  `make help` lists the targets.
PREFIX  ?= /usr/local
DESTDIR ?=
B       ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
VERSION := 0.1.0

PKGS    := libcurl zlib md4c sqlite3
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Wshadow \
	-Wformat=2 -Wno-format-nonliteral $(OPT) $(SAN) -Ilib -DBLLM_VERSION='"$(VERSION)"' \
	-DBLLM_SHARE_DIR='"$(PREFIX)/share/bllm"' \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ljq -lpthread -lm
EDIT_LIBS := $(shell pkg-config --libs libedit 2>/dev/null || echo -ledit)
HTTPD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(LIB_SRC:lib/%.c=$(B)/obj/lib/%.o)
BIN_SRC  := $(wildcard bin/*.c)
PROGS    := $(BIN_SRC:bin/%.c=$(B)/%)
TOOL_SRC := $(wildcard tools/*.c)
TOOLS    := $(TOOL_SRC:tools/%.c=$(B)/%) $(B)/fake-anthropic
# fake-anthropic alone is several files, one directory (its own header, fake.h).
FAKE_SRC := $(wildcard tools/fake-anthropic/*.c)
FAKE_OBJ := $(FAKE_SRC:tools/%.c=$(B)/obj/tools/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
ALIASES  := $(B)/better-llm-cli $(if $(wildcard bin/bllm.c),$(B)/better-llm)

.PHONY: all deps check check-asan check-valgrind demo bench fuzz install clean help tui-capture
all: $(PROGS) $(TOOLS) $(UNITS) $(ALIASES)

deps:
	@scripts/install.sh

$(B)/libbllm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/obj/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(B)/gen -c -o $@ $<

# The shipped system_config.json is also the built-in default: one source of truth.
$(B)/obj/lib/config.o: $(B)/gen/system_defaults.inc
$(B)/gen/system_defaults.inc: config/system_config.json
	@mkdir -p $(@D)
	sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/' $< > $@

$(B)/obj/bin/%.o: bin/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(B)/%: $(B)/obj/bin/%.o $(B)/libbllm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The dashboard's page, script and style, compiled in: no file is read at run time.
WEB_ASSETS := web/index.html web/app.js web/app.css
$(B)/obj/lib/dashboard_http.o: $(B)/gen/web_assets.inc
$(B)/gen/web_assets.inc: $(WEB_ASSETS)
	@mkdir -p $(@D)
	@for f in $(WEB_ASSETS); do \
		n=$$(echo "$$f" | sed 's|^web/|web_|; s|[^A-Za-z0-9]|_|g'); \
		echo "static const unsigned char $$n[] = {"; \
		od -An -v -tx1 "$$f" | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
		echo "};"; \
	done > $@

# Only the dashboard serves HTTP.
$(B)/bllm-dashboard: $(B)/obj/bin/bllm-dashboard.o $(B)/libbllm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) $(HTTPD_LIBS)

# Only the terminal UI needs line editing.
$(B)/bllm: $(B)/obj/bin/bllm.o $(B)/libbllm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) $(EDIT_LIBS)

$(B)/fake-anthropic: $(FAKE_OBJ) $(B)/libbllm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%: $(B)/obj/tools/%.o $(B)/libbllm.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/unit/%: $(B)/obj/unit/%.o $(B)/libbllm.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/better-llm-cli: | $(B)/bllm-manage
	ln -sf bllm-manage $@
$(B)/better-llm: | $(B)/bllm
	ln -sf bllm $@

# Every test: C unit tests, then the bats suites; ends with "N passed, N failed".
check: deps
	@$(MAKE) -s --no-print-directory all
	@BLLM_BUILD=$(abspath $(B)) tests/run

check-asan: deps
	@$(MAKE) --no-print-directory B=build-asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@BLLM_BUILD=$(abspath build-asan) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run

# The worker, protocol, API, session and stats suites with every program
# run under valgrind: slow, and the one place a jv freed twice inside libjq
# is seen (libjq is not built with ASan).
check-valgrind: deps
	@command -v valgrind >/dev/null || { echo "make check-valgrind: needs valgrind (apt-get install valgrind)"; exit 2; }
	@$(MAKE) -s --no-print-directory all
	@scripts/valgrind-wrap.sh $(abspath $(B)) $(abspath $(B))/valgrind
	@BLLM_BUILD=$(abspath $(B))/valgrind bats tests/10-cli.bats tests/20-protocol.bats \
		tests/25-api.bats tests/40-session.bats tests/50-stats.bats

demo: deps
	@$(MAKE) -s --no-print-directory all
	@BLLM_BUILD=$(abspath $(B)) scripts/demo.sh

# The README's text screen capture of a TUI run (tmux, offline).
tui-capture:
	@$(MAKE) -s --no-print-directory all
	@BLLM_BUILD=$(abspath $(B)) scripts/tui-capture.sh

bench: deps
	@$(MAKE) --no-print-directory B=build-bench OPT="-O2 -DNDEBUG" all
	@BLLM_BUILD=$(abspath build-bench) tools/bench.sh

# libFuzzer targets (clang), each run FUZZ_SECONDS on its seed corpus
# (tests/fuzz/corpus/NAME, copied to build-fuzz/corpus-NAME, which grows);
# a crash, a leak or an input slower than 10 s fails. FUZZ_TARGETS picks some.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= sse io md path glob reply config tools
FUZZ_FLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Ilib -Ibuild-fuzz/gen \
	-fsanitize=fuzzer,address,undefined
fuzz: deps
	@$(MAKE) --no-print-directory B=build-fuzz CC=clang OPT="-O1 -g" \
		SAN="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libbllm.a
	@for t in $(FUZZ_TARGETS); do \
		clang $(FUZZ_FLAGS) tests/fuzz/fuzz_$$t.c build-fuzz/libbllm.a \
			$(LDLIBS) -o build-fuzz/fuzz_$$t || exit 1; \
		mkdir -p build-fuzz/corpus-$$t; \
		cp tests/fuzz/corpus/$$t/* build-fuzz/corpus-$$t/ 2>/dev/null; \
		[ $$t = sse ] && cp tests/fixtures/anthropic-sse/*.sse build-fuzz/corpus-$$t/ 2>/dev/null; \
		[ $$t = md ] && cp README.md docs/*.md build-fuzz/corpus-$$t/ 2>/dev/null; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$(abspath tests/fuzz/lsan.supp) \
			build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
			build-fuzz/corpus-$$t >build-fuzz/fuzz_$$t.log 2>&1 \
			|| { tail -n 40 build-fuzz/fuzz_$$t.log; echo "fuzz_$$t: FAILED"; exit 1; }; \
		echo "fuzz_$$t: ok"; \
	done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/bllm/config \
		$(DESTDIR)$(PREFIX)/share/bllm/prompts $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	ln -sf bllm-manage $(DESTDIR)$(PREFIX)/bin/better-llm-cli
	ln -sf bllm $(DESTDIR)$(PREFIX)/bin/better-llm
	install -m 644 config/*.json $(DESTDIR)$(PREFIX)/share/bllm/config/
	install -m 644 prompts/*.txt $(DESTDIR)$(PREFIX)/share/bllm/prompts/
	-install -m 644 docs/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/ 2>/dev/null

clean:
	rm -rf build build-asan build-bench build-fuzz

help:
	@echo "make            build programs into $(B)/"
	@echo "make check      install missing packages, build, run every test"
	@echo "make check-asan the same under AddressSanitizer and UBSan"
	@echo "make check-valgrind  the worker and tool suites with the programs under valgrind"
	@echo "make demo       run a whole task offline against tools/fake-anthropic"
	@echo "make bench      print the benchmark table"
	@echo "make tui-capture  print a text screen capture of a bllm (TUI) run"
	@echo "make fuzz       run the libFuzzer targets (FUZZ_SECONDS=$(FUZZ_SECONDS) each)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR="

.SECONDARY:
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
