# ---- The driver's container image: FROM scratch, built offline with Debian's podman (deploy/Containerfile)
TEST_SUITES += test-image
.PHONY: image test-image
IMAGE          ?= localhost/evssnap/evs-csi-driver:0.1.0
IMAGE_CONFIG   ?= release
IMAGE_MAX_MB   ?= 40
IMAGE_ROOTFS   := $(CURDIR)/$(SCRATCH)/image-rootfs
# podman run needs runc and explicit limits on this kernel (../shared/testbin/README.md): crun fails on hybrid cgroups.
PODMAN_RUN     := podman run --pull=never --runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=1000:1000

## image: build the driver's image (release, FROM scratch: the binary, node tools, their ldd closure); must be <= 40 MB
image: deps-image
	$(SWIFT) build -c $(IMAGE_CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	tools/image-build.sh "$(CURDIR)/$(SCRATCH)/$(IMAGE_CONFIG)/evs-csi-driver" "$(IMAGE_ROOTFS)" "$(IMAGE)" $(IMAGE_MAX_MB)

## test-image: when podman is present, run an image of the built driver with podman and probe its socket from the host
test-image: deps-py
	@if ! command -v podman >/dev/null || [ ! -x /usr/sbin/runc ]; then \
	  echo "test-image: SKIPPED: podman or /usr/sbin/runc is missing (make deps-image installs them)"; exit 0; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then echo "test-image: SKIPPED: needs root (podman with runc, as measured here)"; exit 0; fi; \
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver || exit 1; \
	tag="localhost/evssnap/evs-csi-driver:test-$$$$"; \
	tools/image-build.sh "$(BIN)/evs-csi-driver" "$(IMAGE_ROOTFS)-test" "$$tag" 0 || exit 1; \
	$(PY) Tests/image/probe_image.py --image "$$tag" --podman-run "$(PODMAN_RUN)"; rc=$$?; \
	podman rmi -f "$$tag" >/dev/null 2>&1; rm -rf "$(IMAGE_ROOTFS)-test"; exit $$rc
