# ---- The driver's container image: FROM scratch, built offline with Debian's podman (deploy/Containerfile)
TEST_SUITES += test-image
.PHONY: image test-image
IMAGE          ?= localhost/evssnap/evs-csi-driver:0.1.0
# The driver an image ships: mk/lean.mk's release build (Swift runtime, gRPC core, SQLite, libstdc++ static).
LEAN_DRIVER    := $(CURDIR)/$(SCRATCH)/release/evs-csi-driver
IMAGE_MAX_MB   ?= 40
IMAGE_ROOTFS   := $(CURDIR)/$(SCRATCH)/image-rootfs
# podman run needs runc and explicit limits on this kernel (../shared/testbin/README.md): crun fails on hybrid cgroups.
PODMAN_RUN     := podman run --pull=never --runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000

## image: the driver's image from `make driver-release` (FROM scratch: stripped binary, node tools, ldd closure); <= 40 MB
image: deps-image driver-release
	tools/image-build.sh "$(LEAN_DRIVER)" "$(IMAGE_ROOTFS)" "$(IMAGE)" $(IMAGE_MAX_MB)

## test-image: when podman is present, run an image of the built driver with podman and probe its socket from the host
# TEST_IMAGE_DRIVER=PATH tests that binary instead of building $(CONFIG) (test-image-lean passes the shipped one).
TEST_IMAGE_DRIVER ?=
test-image: deps-py
	@if ! command -v podman >/dev/null || [ ! -x /usr/sbin/runc ]; then \
	  echo "test-image: SKIPPED: podman or /usr/sbin/runc is missing (make deps-image installs them)"; exit 0; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then echo "test-image: SKIPPED: needs root (podman with runc, as measured here)"; exit 0; fi; \
	driver="$(TEST_IMAGE_DRIVER)"; \
	if [ -z "$$driver" ]; then \
	  $(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver || exit 1; \
	  driver="$(BIN)/evs-csi-driver"; \
	fi; \
	tag="localhost/evssnap/evs-csi-driver:test-$$$$"; \
	tools/image-build.sh "$$driver" "$(IMAGE_ROOTFS)-test" "$$tag" 0 || exit 1; \
	$(PY) Tests/image/probe_image.py --image "$$tag" --podman-run "$(PODMAN_RUN)"; rc=$$?; \
	podman rmi -f "$$tag" >/dev/null 2>&1; rm -rf "$(IMAGE_ROOTFS)-test"; exit $$rc

.PHONY: test-image-lean
## test-image-lean: the image test on the driver `make image` ships (the lean release build)
test-image-lean: driver-release
	@$(MAKE) --no-print-directory test-image TEST_IMAGE_DRIVER="$(LEAN_DRIVER)"
