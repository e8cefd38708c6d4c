# ---- The lean driver (issue 11): release build with the Swift runtime and gRPC's core linked statically
# The driver and its libraries import no Foundation; with --static-swift-stdlib the Swift runtime is in the binary.
# tools/lean-libs.sh makes a link folder that, first on the search path, turns -lgrpc/-lgpr/-lprotobuf-c/-lsqlite3
# into Debian's static archives: gRPC's core without TLS (grpc_unsecure; LEAN_GRPC=grpc keeps OpenSSL in) with
# abseil, re2, upb, c-ares, zlib, plus protobuf-c, SQLite and libstdc++. What stays shared: libc, libm, libgcc_s
# (libcurl is opened with dlopen on the first Kubernetes or EVS call). Debug builds (`make build`, `make test`) are
# untouched: they never see the folder and link the shared libraries.
LEAN_GRPC    ?= grpc_unsecure
# One folder per variant: its path is in the link command, so switching LEAN_GRPC relinks (SwiftPM does not see a
# folder's content change).
LEAN_LIBDIR  := $(CURDIR)/$(SCRATCH)/lean-libs-$(LEAN_GRPC)
# Link flags, each measured at idle with tools/lean-libs.sh's folder in place (2026-12-03, RSS of a started driver):
#   PIE, gold, Swift's default -export-dynamic: 15.2 MiB; -no-pie: 14.1 MiB (no relative relocations to apply,
#   but no ASLR for the binary); lld with -z pack-relative-relocs (RELR, glibc >= 2.36) keeps PIE: 14.4 MiB.
# -use-ld=lld: the toolchain's lld (gold, the default here, has no RELR). --no-export-dynamic undoes the
# -export-dynamic of --static-swift-stdlib's static-stdlib-args.lnk: the driver's ~100k symbols no longer fill
# .dynsym/.dynstr and the loader's hash table (nothing dlsym()s into the driver; libcurl is looked up by handle).
# -O1: optimised hash tables; --as-needed: no DT_NEEDED for a library nothing uses. SwiftPM already passes
# --gc-sections for a release executable.
DRIVER_RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker -L$(LEAN_LIBDIR) \
  -Xlinker -O1 -Xlinker --as-needed -Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs
.PHONY: driver-release lean-libs
## lean-libs: the link folder that makes the release driver link gRPC's core, SQLite and protobuf-c statically
lean-libs:
	tools/lean-libs.sh "$(LEAN_LIBDIR)" $(LEAN_GRPC)

## driver-release: the driver as shipped: release, Swift runtime and gRPC core static ($(SCRATCH)/release/evs-csi-driver)
driver-release: lean-libs
	$(SWIFT) build $(DRIVER_RELEASE_FLAGS) $(SWIFT_SCRATCH) --product evs-csi-driver

# make bench-rpc measures the driver as shipped: rpc-bench and its echo server are linked the same way.
bench-rpc: lean-libs
bench-rpc: export RPC_BENCH_RELEASE_FLAGS = $(DRIVER_RELEASE_FLAGS)

# The lean promise as a test: no Foundation, no NIO, by SwiftPM's dependency graph, readelf and nm (no timing).
TEST_SUITES += test-lean
.PHONY: test-lean
## test-lean: the driver's dependency closure has no NIO/Foundation product; the built driver(s) link none (readelf, nm)
test-lean:
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	tools/lean-check.sh "$(SWIFT)" "$(BIN)/evs-csi-driver" "$(CURDIR)/$(SCRATCH)/release/evs-csi-driver"
