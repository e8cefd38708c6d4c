# ---- csi-sanity: the real CSI conformance suite (kubernetes-csi/csi-test) against the built driver
TEST_SUITES += test-sanity
.PHONY: test-sanity
# Fewest specs that must pass with default flags: what the driver passes now (the issue's goal is 84; csi-driver-host-path
# passes 77). The specs beyond are features Everest does not offer (docs/driver.md, csi-sanity).
SANITY_MIN_PASSED ?= 86
SANITY_RUNS       ?= default attachlimit
SANITY_LOGS       ?= $(CURDIR)/$(SCRATCH)/sanity-logs
# Where csi-sanity comes from: $EVSSNAP_TESTBIN (a folder holding csi-sanity), else ../shared/testbin/install.sh
# unpacked into this checkout's build folder (one copy per checkout: two unpacks into one folder would race).
SANITY_TESTBIN_DEST ?= $(CURDIR)/$(SCRATCH)/testbin

## test-sanity: csi-sanity twice against the built driver (defaults; attach limit + 1 GiB + secrets + GPSSD2 volumes modified): 0 failed, skips documented, nothing left behind
test-sanity: deps-py
	@testbin="$(EVSSNAP_TESTBIN)"; \
	if [ -z "$$testbin" ] && [ -x ../shared/testbin/install.sh ]; then \
	  testbin="$$(../shared/testbin/install.sh "$(SANITY_TESTBIN_DEST)")" || exit 1; \
	fi; \
	if [ -z "$$testbin" ] || [ ! -x "$$testbin/csi-sanity" ]; then \
	  echo "test-sanity: SKIPPED: csi-sanity not found (EVSSNAP_TESTBIN='$(EVSSNAP_TESTBIN)', no ../shared/testbin)."; \
	  echo "  Get it with: go install github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@latest"; \
	  echo "  then: make test-sanity EVSSNAP_TESTBIN=\$$(go env GOPATH)/bin"; \
	  if [ -n "$$CI" ]; then echo "test-sanity: FAILED: CI is set and csi-sanity is missing"; exit 1; fi; \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "test-sanity: SKIPPED: needs root (the Node specs attach loop devices and mount them)"; \
	  if [ -n "$$CI" ]; then echo "test-sanity: FAILED: CI is set and this is not root"; exit 1; fi; \
	  exit 0; \
	fi; \
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver || exit 1; \
	rc=0; for run in $(SANITY_RUNS); do \
	  min=0; [ "$$run" = default ] && min=$(SANITY_MIN_PASSED); \
	  $(PY) Tests/sanity/run_csi_sanity.py --driver "$(BIN)/evs-csi-driver" --csi-sanity "$$testbin/csi-sanity" \
	    --run "$$run" --min-passed "$$min" --keep-logs "$(SANITY_LOGS)" || rc=1; \
	done; exit $$rc
