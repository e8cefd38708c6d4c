# ---- The real-node end-to-end test (Tests/realnode, docs/cluster.md "Real-node test"): kubelet on containerd
# One node on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, snapshot-controller and
# kubelet from $EVSSNAP_TESTBIN, containerd + runc + the CNI plugins from Debian, the images of `make image`, and
# deploy/ applied unchanged. Skips with one line without EVSSNAP_TESTBIN; needs root (kubelet, containerd, mounts).
TEST_SUITES += test-realnode
.PHONY: test-realnode deps-realnode
# What the node runs beside the testbin binaries: the container runtime, the CNI bridge, and the workload pods'
# busybox (Debian's static one, made into an image at test time).
REALNODE_APT_PKGS := containerd runc containernetworking-plugins busybox-static
# Bound of the whole suite, images already built (measured about 2 min: docs/cluster.md); SIGTERM runs the teardown.
REALNODE_TEST_TIMEOUT ?= 600
REALNODE_PYTEST_ARGS ?=
# The binaries the suite needs: the control plane, the four controller sidecars, and the node's own.
REALNODE_NEEDS := etcd kube-apiserver kube-controller-manager snapshot-controller csi-provisioner csi-attacher \
                  csi-resizer csi-snapshotter kube-scheduler kubelet csi-node-driver-registrar livenessprobe

## deps-realnode: install what test-realnode needs besides the testbin (containerd, runc, CNI plugins, busybox-static)
deps-realnode:
	@$(MAKE) --no-print-directory deps-apt APT_PKGS="$(REALNODE_APT_PKGS)"

## test-realnode: one real node (kubelet, containerd), `make image`'s images, deploy/ unchanged; root, EVSSNAP_TESTBIN
# The seed's flow with pods (sha256 of the written data), a node DaemonSet restart and a kubelet restart under a
# staged volume, expansion in use, the timings beside hostpathplugin, an uninstall that leaves only what
# docs/cluster.md says (Tests/realnode/test_realnode.py lists the steps).
test-realnode: deps-py
	@testbin="$$(python3 Tests/testbin.py require test-realnode $(REALNODE_NEEDS))"; rc=$$?; \
	if [ $$rc = 3 ]; then exit 0; elif [ $$rc != 0 ]; then exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  $(NOTE_SKIP) "test-realnode: SKIPPED: needs root (kubelet, containerd, loop devices and mounts)"; exit 0; \
	fi; \
	$(MAKE) --no-print-directory deps-realnode image || exit 1; \
	EVSSNAP_BIN="$(BIN)" EVSSNAP_SUITE=test-realnode EVSSNAP_REALNODE_LOGS="$(CURDIR)/$(SCRATCH)/realnode-logs" \
	  timeout -s TERM -k 60 $(REALNODE_TEST_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider Tests/realnode $(REALNODE_PYTEST_ARGS)
