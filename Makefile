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
# The real reference programs (csi-sanity, kube-apiserver, sidecars, hostpathplugin): ../shared/testbin unpacked.
EVSSNAP_TESTBIN ?=

TEST_SUITES :=
BENCHES     :=

include mk/deps.mk mk/build.mk mk/test.mk mk/bench.mk
-include $(filter-out mk/deps.mk mk/build.mk mk/test.mk mk/bench.mk,$(sort $(wildcard mk/*.mk)))

.PHONY: help test bench
## help: this list
help:
	@grep -h -E '^## [a-z-]+:' Makefile mk/*.mk | sed -E 's/^## ([a-z-]+): ?/\1\t/' | \
	  awk -F'\t' '{ printf "  make %-18s %s\n", $$1, $$2 }'

## test: every test suite on a fresh machine: deps, build, generated-code check, then each suite in TEST_SUITES
test: deps build proto-check $(TEST_SUITES)

## bench: every benchmark (not part of `make test`); figures are printed as ratios to a baseline of the same run
bench: $(BENCHES)
