# ---- EVS cloud backend: csi-sanity's controller specs and the fault runs with the driver on `--backend evs` against
# the fake EVS + ECS + IAM service (Tests/evs, Tests/fake-evs). The EVSCloudTests Swift suite runs in test-swift.
TEST_SUITES += test-evs
.PHONY: test-evs test-evs-unit fake-evs
# Bound of the evs-backend seed flow on the test cluster (cluster start included; measured ~25 s).
EVS_CLUSTER_TEST_TIMEOUT ?= 180

## test-evs: csi-sanity's controller specs and the fault runs against the driver with --backend evs on the fake,
## then the seed's flow on the test cluster with the evs backend (its own pytest session: the emulator stack of
## test-cluster registers the same driver name)
test-evs: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product kubectl-evssnap
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/evs
	EVSSNAP_BIN="$(BIN)" EVSSNAP_SUITE="test-evs (seed flow on the test cluster, --backend evs)" \
	  timeout -s TERM -k 30 $(EVS_CLUSTER_TEST_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider Tests/cluster/test_e2e_evs_backend.py

## test-evs-unit: the EVSCloud Swift tests only (SHA-256/HMAC, JSON, signing, backend on the fake with faults)
test-evs-unit:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --no-parallel --filter EVSCloudTests

## fake-evs: run the fake EVS + ECS + IAM service in the foreground (prints its URL, CA and credential files as JSON)
fake-evs:
	python3 Tests/fake-evs/fake_evs.py $(FAKE_ARGS)
