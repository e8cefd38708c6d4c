# ---- Benchmarks: not tests. Each prints its figures as ratios to a baseline measured in the same run.
BENCHES += bench-rpc bench-data bench-json
.PHONY: bench-rpc bench-rpc-core bench-data bench-json
RPC_BENCH_SECONDS ?= 5
RPC_BENCH_IN_FLIGHT ?= 1,16,64

## bench-rpc: the driver under rpc-bench load (Probe, ListSnapshots, CreateSnapshot) beside the empty-handler baseline
bench-rpc: deps
	bench/bench-rpc.sh

## bench-rpc-core: the gRPC layer alone: rpc-bench against its echo server in another process (release build)
bench-rpc-core:
	$(SWIFT) build -c release $(SWIFT_SCRATCH) --product rpc-bench
	@bin="$(CURDIR)/$(SCRATCH)/release/rpc-bench"; sock="/tmp/evssnap-rpc-bench-$$$$.sock"; \
	"$$bin" --serve-echo "unix://$$sock" & pid=$$!; \
	for i in $$(seq 100); do [ -S "$$sock" ] && break; sleep 0.05; done; \
	"$$bin" --endpoint "unix://$$sock" --in-flight $(RPC_BENCH_IN_FLIGHT) --duration $(RPC_BENCH_SECONDS) --server-pid $$pid; rc=$$?; \
	kill -TERM $$pid; wait $$pid; exit $$rc

## bench-data: snapshot/restore time vs `cp --reflink=auto --sparse=always`, and create/list with 10 vs 10,000 stored
bench-data:
	$(SWIFT) build -c release $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-bench-data
	"$(CURDIR)/$(SCRATCH)/release/evs-bench-data"

## bench-json: parse a 1,000-VolumeSnapshot list (2 MiB, managedFields) with JSONCore beside JSONSerialization
bench-json:
	$(SWIFT) build -c release $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product json-bench
	"$(CURDIR)/$(SCRATCH)/release/json-bench"
