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

# The scheduler's image (deploy/scheduler.yaml): the release scheduler, Swift runtime and Foundation static, built with
# the driver's release flags so both share one release build folder (switching flags would rebuild everything).
IMAGE_SCHEDULER ?= localhost/evssnap/evssnap-scheduler:0.1.0
IMAGE_SCHEDULER_MAX_MB ?= 80
RELEASE_SCHEDULER := $(CURDIR)/$(SCRATCH)/release/evssnap-scheduler

.PHONY: scheduler-release
## scheduler-release: evssnap-scheduler as shipped ($(SCRATCH)/release/evssnap-scheduler, Swift runtime and Foundation static)
scheduler-release: lean-libs
	$(SWIFT) build $(DRIVER_RELEASE_FLAGS) $(SWIFT_SCRATCH) --product evssnap-scheduler

## image: the node image from `make driver-release` (FROM scratch: stripped binary, node tools, ldd closure; <= 40 MB),
## the controller image (the same plus libcurl and CA certificates, for HTTPS; <= 50 MB) and the scheduler image (<= 80 MB)
image: deps-image driver-release scheduler-release
	tools/image-build.sh node "$(LEAN_DRIVER)" "$(IMAGE_ROOTFS)" "$(IMAGE)" $(IMAGE_MAX_MB)
	tools/image-build.sh controller "$(LEAN_DRIVER)" "$(IMAGE_ROOTFS)-controller" "$(IMAGE_CONTROLLER)" $(IMAGE_CONTROLLER_MAX_MB)
	tools/image-build.sh scheduler "$(RELEASE_SCHEDULER)" "$(IMAGE_ROOTFS)-scheduler" "$(IMAGE_SCHEDULER)" $(IMAGE_SCHEDULER_MAX_MB)

## test-image: when podman is present, run the node and controller images of the built driver with podman and probe
## them from the host; given Kubernetes access, the node image (no libcurl) must refuse to start, the controller serve
# TEST_IMAGE_DRIVER=PATH / TEST_IMAGE_SCHEDULER=PATH test those binaries instead of building $(CONFIG)
# (test-image-lean passes the shipped ones).
TEST_IMAGE_DRIVER ?=
TEST_IMAGE_SCHEDULER ?=
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
	scheduler="$(TEST_IMAGE_SCHEDULER)"; \
	if [ -z "$$scheduler" ]; then \
	  $(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evssnap-scheduler || exit 1; \
	  scheduler="$(BIN)/evssnap-scheduler"; \
	fi; \
	tag="localhost/evssnap/evs-csi-driver:test-$$$$"; ctag="localhost/evssnap/evs-csi-driver-controller:test-$$$$"; \
	stag="localhost/evssnap/evssnap-scheduler:test-$$$$"; \
	tools/image-build.sh node "$$driver" "$(IMAGE_ROOTFS)-test" "$$tag" 0 || exit 1; \
	tools/image-build.sh controller "$$driver" "$(IMAGE_ROOTFS)-test-controller" "$$ctag" 0 || exit 1; \
	tools/image-build.sh scheduler "$$scheduler" "$(IMAGE_ROOTFS)-test-scheduler" "$$stag" 0 || exit 1; \
	$(PY) Tests/image/probe_image.py --image "$$tag" --podman-run "$(PODMAN_RUN)" && \
	$(PY) Tests/image/probe_image.py --image "$$tag" --podman-run "$(PODMAN_RUN)" --kube-access refuse && \
	$(PY) Tests/image/probe_image.py --image "$$ctag" --podman-run "$(PODMAN_RUN)" --kube-access serve && \
	$(PY) Tests/image/probe_scheduler_image.py --image "$$stag" --podman-run "$(PODMAN_RUN)"; rc=$$?; \
	podman rmi -f "$$tag" "$$ctag" "$$stag" >/dev/null 2>&1; \
	rm -rf "$(IMAGE_ROOTFS)-test" "$(IMAGE_ROOTFS)-test-controller" "$(IMAGE_ROOTFS)-test-scheduler"; exit $$rc

.PHONY: test-image-lean
## test-image-lean: the image test on the binaries `make image` ships (the lean release builds)
test-image-lean: driver-release scheduler-release
	@$(MAKE) --no-print-directory test-image TEST_IMAGE_DRIVER="$(LEAN_DRIVER)" TEST_IMAGE_SCHEDULER="$(RELEASE_SCHEDULER)"
