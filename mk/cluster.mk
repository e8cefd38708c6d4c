# ---- The real-cluster end-to-end test (Tests/cluster, docs/cluster.md "End-to-end test")
TEST_SUITES += test-cluster
.PHONY: test-cluster
# Whole-suite bound: on expiry `timeout` sends SIGTERM, which the harness turns into KeyboardInterrupt so that
# every fixture finalizer runs (each process stopped by its pid, temp dirs removed); SIGKILL 30 s later.
CLUSTER_TEST_TIMEOUT ?= 480
CLUSTER_PYTEST_ARGS ?=

## test-cluster: end-to-end on a real kube-apiserver + controllers + CSI sidecars (testbin), our driver and kubectl evssnap
test-cluster: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product kubectl-evssnap
	EVSSNAP_BIN="$(BIN)" EVSSNAP_SUITE=test-cluster \
	  timeout -s TERM -k 30 $(CLUSTER_TEST_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider Tests/cluster $(CLUSTER_PYTEST_ARGS)
