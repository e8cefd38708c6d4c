# ---- The driver's container image: FROM scratch, built offline with Debian's podman (deploy/Containerfile)
TEST_SUITES += test-image
.PHONY: image test-image
IMAGE          ?= localhost/evssnap/evs-csi-driver:0.1.0
# The controller's image: the same driver plus libcurl (HTTPS to the API server for PVC annotations, and to EVS with
# --backend evs). One replica runs it; the node image, on every node, goes without (docs/cluster.md).
IMAGE_CONTROLLER ?= localhost/evssnap/evs-csi-driver-controller:0.1.0
IMAGE_CONTROLLER_MAX_MB ?= 50
# The driver an image ships: mk/lean.mk's release build (Swift runtime, gRPC core, SQLite, libstdc++ static).
LEAN_DRIVER    := $(CURDIR)/$(SCRATCH)/release/evs-csi-driver
IMAGE_MAX_MB   ?= 40
IMAGE_ROOTFS   := $(CURDIR)/$(SCRATCH)/image-rootfs
# podman run needs runc and explicit limits on this kernel (../shared/testbin/README.md): crun fails on hybrid cgroups.
PODMAN_RUN     := podman run --pull=never --runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000

## image: the node image from `make driver-release` (FROM scratch: stripped binary, node tools, ldd closure; <= 40 MB)
## and the controller image (the same plus libcurl and CA certificates, for HTTPS; <= 50 MB)
image: deps-image driver-release
	tools/image-build.sh "$(LEAN_DRIVER)" "$(IMAGE_ROOTFS)" "$(IMAGE)" $(IMAGE_MAX_MB)
	tools/image-build.sh "$(LEAN_DRIVER)" "$(IMAGE_ROOTFS)-controller" "$(IMAGE_CONTROLLER)" $(IMAGE_CONTROLLER_MAX_MB) https

## test-image: when podman is present, run the node and controller images of the built driver with podman and probe
## them from the host; given Kubernetes access, the node image (no libcurl) must refuse to start, the controller serve
# TEST_IMAGE_DRIVER=PATH tests that binary instead of building $(CONFIG) (test-image-lean passes the shipped one).
TEST_IMAGE_DRIVER ?=
test-image: deps-py
	@if ! command -v podman >/dev/null || [ ! -x /usr/sbin/runc ]; then \
	  $(NOTE_SKIP) "test-image: SKIPPED: podman or /usr/sbin/runc is missing (make deps-image installs them)"; exit 0; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then $(NOTE_SKIP) "test-image: SKIPPED: needs root (podman with runc, as measured here)"; exit 0; fi; \
	driver="$(TEST_IMAGE_DRIVER)"; \
	if [ -z "$$driver" ]; then \
	  $(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver || exit 1; \
	  driver="$(BIN)/evs-csi-driver"; \
	fi; \
	tag="localhost/evssnap/evs-csi-driver:test-$$$$"; ctag="localhost/evssnap/evs-csi-driver-controller:test-$$$$"; \
	tools/image-build.sh "$$driver" "$(IMAGE_ROOTFS)-test" "$$tag" 0 || exit 1; \
	tools/image-build.sh "$$driver" "$(IMAGE_ROOTFS)-test-controller" "$$ctag" 0 https || exit 1; \
	$(PY) Tests/image/probe_image.py --image "$$tag" --podman-run "$(PODMAN_RUN)" && \
	$(PY) Tests/image/probe_image.py --image "$$tag" --podman-run "$(PODMAN_RUN)" --kube-access refuse && \
	$(PY) Tests/image/probe_image.py --image "$$ctag" --podman-run "$(PODMAN_RUN)" --kube-access serve; rc=$$?; \
	podman rmi -f "$$tag" "$$ctag" >/dev/null 2>&1; rm -rf "$(IMAGE_ROOTFS)-test" "$(IMAGE_ROOTFS)-test-controller"; exit $$rc

.PHONY: test-image-lean
## test-image-lean: the image test on the driver `make image` ships (the lean release build)
test-image-lean: driver-release
	@$(MAKE) --no-print-directory test-image TEST_IMAGE_DRIVER="$(LEAN_DRIVER)"
