# ---- Build: products, generated code, install, run
.PHONY: build proto proto-check run install clean
## build: debug build of every product (CONFIG=release for release; needs `make deps` once)
build:
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS)

## proto: regenerate Sources/CCSIProto and Sources/CSIMessages/Generated from proto/csi.proto (output is committed)
proto: deps-py
	tools/gen-proto.sh

## proto-check: regenerate and fail if the committed generated code differs
proto-check: proto
	git diff --exit-code -- Sources/CCSIProto Sources/CSIMessages/Generated
	@untracked="$$(git ls-files --others --exclude-standard -- Sources/CCSIProto Sources/CSIMessages/Generated)"; \
	  if [ -n "$$untracked" ]; then echo "proto-check: generated files not in git: $$untracked"; exit 1; fi

## run: build the driver and serve it on ./run/csi.sock with its emulator state in ./run/state (Ctrl-C stops it)
RUN_DIR := $(CURDIR)/run
run: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	mkdir -p $(RUN_DIR)/state
	@echo "evs-csi-driver: unix://$(RUN_DIR)/csi.sock, state in $(RUN_DIR)/state. In another shell, try:"
	@echo "  $(PY) tools/csi.py probe"
	@echo "  $(PY) tools/csi.py create-volume data 10Gi --type SSD"
	@echo "  $(PY) tools/csi.py create-snapshot snap-1 <volume-id>"
	@echo "  $(PY) tools/csi.py list-snapshots"
	@echo "  $(PY) tools/csi.py restore data-restore <snapshot-id> --type SSD"
	$(BIN)/evs-csi-driver --endpoint unix://$(RUN_DIR)/csi.sock --state-dir $(RUN_DIR)/state --node-id "$$(hostname)"

## install: release builds of the driver and the plugin (with its completion helper) into $(DESTDIR)$(PREFIX)/bin
install:
	$(SWIFT) build -c release $(SWIFT_SCRATCH) --product evs-csi-driver
	$(SWIFT) build -c release $(SWIFT_SCRATCH) --product kubectl-evssnap
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(SCRATCH)/release/evs-csi-driver $(SCRATCH)/release/kubectl-evssnap $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 plugin/kubectl_complete-evssnap $(DESTDIR)$(PREFIX)/bin/

## clean: remove build output, the run folder and generated test clients
clean:
	rm -rf .build .build-* run Tests/conformance/_gen
