# ---- The kubectl plugin: its benchmark against the real kube-apiserver, and the EPIPE/least-privilege suites
BENCHES += bench-plugin
.PHONY: bench-plugin
BENCH_RUNS ?= 11

## bench-plugin: kubectl evssnap (release build) vs kubectl on the real kube-apiserver (testbin) with 1,000 snapshots
bench-plugin: deps-py
	$(SWIFT) build -c release $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product kubectl-evssnap
	tools/bench-plugin.sh "$(CURDIR)/$(SCRATCH)/release" $(BENCH_RUNS)
