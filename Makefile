# SPDX-License-Identifier: MIT
# Front door: every target installs what is missing, then drives Meson + Ninja.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps build check test asan demo bench fuzz clean install

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs

$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    meson test -C $(ASAN_BUILD) --print-errorlogs

check: test asan

demo: build
	@scripts/demo $(BUILD)

bench: build
	@scripts/install-deps --bench
	@bench/run $(BUILD)
	@bench/cli-scale $(BUILD)
	@bench/agent-load $(BUILD)
	@bench/lab $(BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_lundef=false -Dbuildtype=debugoptimized

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

# PREFIX (default /usr/local) and DESTDIR as usual: binaries, bash completion, man pages, the
# daemon's systemd unit and example config.
PREFIX ?= /usr/local
install: build
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install $(BUILD)/src/cli/hvfleet \
	    $(BUILD)/src/daemon/hvfleetd $(BUILD)/src/agent/hvfleet-agent $(BUILD)/guest/lab-guest.elf

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
