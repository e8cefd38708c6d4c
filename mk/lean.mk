# ---- The lean driver (issue 11): release build with the Swift runtime linked statically
# The driver and its libraries import no Foundation; with --static-swift-stdlib the binary needs only libc, libstdc++,
# gRPC's core, protobuf-c and SQLite from the system (libcurl is opened with dlopen on the first Kubernetes call).
DRIVER_RELEASE_FLAGS := -c release --static-swift-stdlib
.PHONY: driver-release
## driver-release: the driver as shipped: release, Swift runtime linked statically ($(SCRATCH)/release/evs-csi-driver)
driver-release:
	$(SWIFT) build $(DRIVER_RELEASE_FLAGS) $(SWIFT_SCRATCH) --product evs-csi-driver
