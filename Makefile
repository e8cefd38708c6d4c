# evssnap: see README.md. `make run` and `make test` are the two commands a newcomer needs; `make help` lists the rest.
# Each concern has its own file under mk/ (deps, build, test, bench, ...). A file adds its test suites to TEST_SUITES
# and its benchmarks to BENCHES; `test` and `bench` below run them in order.
SHELL      := /bin/bash
.DEFAULT_GOAL := help
PREFIX     ?= /usr/local
SWIFT      ?= swift
CONFIG     ?= debug
# Build folder; `make asan` uses .build-asan. BIN is where SwiftPM puts the products (computed once, without SwiftPM).
SCRATCH    ?= .build
SWIFTFLAGS ?=
SWIFT_SCRATCH := $(if $(filter .build,$(SCRATCH)),,--scratch-path $(SCRATCH))
BIN        := $(CURDIR)/$(SCRATCH)/$(CONFIG)
VENV       := .venv
PY         := $(CURDIR)/$(VENV)/bin/python
# The real reference programs (csi-sanity, etcd, kube-apiserver, the sidecars, hostpathplugin): a folder the person
# running the tests provides (envtest's convention; Tests/testbin.py, docs/cluster.md). Unset: those suites skip.
EVSSNAP_TESTBIN ?=
export EVSSNAP_TESTBIN
# Each suite that does not run adds one line to this file (Tests/testbin.py); `make test` lists them at its end.
export EVSSNAP_SKIPPED ?= $(CURDIR)/$(SCRATCH)/skipped-suites.txt
# `$(NOTE_SKIP) "suite: SKIPPED: why"` prints a skip line from a recipe and adds it to that list.
NOTE_SKIP   := python3 $(CURDIR)/Tests/testbin.py note

TEST_SUITES :=
BENCHES     :=

include mk/deps.mk mk/build.mk mk/test.mk mk/bench.mk
-include $(filter-out mk/deps.mk mk/build.mk mk/test.mk mk/bench.mk,$(sort $(wildcard mk/*.mk)))

.PHONY: help test test-begin bench
## help: this list
help:
	@grep -h -E '^## [a-z-]+:' Makefile mk/*.mk | sed -E 's/^## ([a-z-]+): ?/\1\t/' | \
	  awk -F'\t' '{ printf "  make %-18s %s\n", $$1, $$2 }'

## test: every test suite on a fresh machine: deps, build, generated-code check, then each suite in TEST_SUITES;
## the last lines list the suites that did not run (no EVSSNAP_TESTBIN, no podman, not root)
test: test-begin deps build proto-check $(TEST_SUITES)
	@echo "make test: passed"; \
	if [ -s "$(EVSSNAP_SKIPPED)" ]; then \
	  echo "make test: $$(wc -l <"$(EVSSNAP_SKIPPED)") suite(s) did NOT run (skipped, not passed):"; \
	  sed 's/^/  /' "$(EVSSNAP_SKIPPED)"; \
	else echo "make test: every suite ran"; fi

test-begin:
	@mkdir -p "$(dir $(EVSSNAP_SKIPPED))"; rm -f "$(EVSSNAP_SKIPPED)"

## bench: every benchmark (not part of `make test`); figures are printed as ratios to a baseline of the same run
bench: $(BENCHES)
