# ---- csi-sanity: the real CSI conformance suite (kubernetes-csi/csi-test) against the built driver
TEST_SUITES += test-sanity
.PHONY: test-sanity
# Fewest specs that must pass with default flags: what the driver passes now (the issue's goal is 84; csi-driver-host-path
# passes 77). The specs beyond are features Everest does not offer (docs/driver.md, csi-sanity).
SANITY_MIN_PASSED ?= 86
SANITY_RUNS       ?= default attachlimit
SANITY_LOGS       ?= $(CURDIR)/$(SCRATCH)/sanity-logs
# csi-sanity comes from $EVSSNAP_TESTBIN only (Tests/testbin.py): unset, the suite skips with one line (listed at
# the end of `make test`); set without a runnable csi-sanity, it fails naming it.

## test-sanity: csi-sanity twice against the built driver (defaults; attach limit + 1 GiB + secrets + GPSSD2 volumes modified): 0 failed, skips documented, nothing left behind
test-sanity: deps-py
	@testbin="$$(python3 Tests/testbin.py require test-sanity csi-sanity)"; rc=$$?; \
	if [ $$rc = 3 ]; then exit 0; elif [ $$rc != 0 ]; then exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  $(NOTE_SKIP) "test-sanity: SKIPPED: needs root (the Node specs attach loop devices and mount them)"; exit 0; \
	fi; \
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver || exit 1; \
	rc=0; for run in $(SANITY_RUNS); do \
	  min=0; [ "$$run" = default ] && min=$(SANITY_MIN_PASSED); \
	  $(PY) Tests/sanity/run_csi_sanity.py --driver "$(BIN)/evs-csi-driver" --csi-sanity "$$testbin/csi-sanity" \
	    --run "$$run" --min-passed "$$min" --keep-logs "$(SANITY_LOGS)" || rc=1; \
	done; exit $$rc
