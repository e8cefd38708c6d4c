# ---- Fuzzing (docs/fuzzing.md): libFuzzer targets under Tests/fuzz, their corpus, the crash soak
# The targets are ordinary executables in an ordinary build (each replays the files it is given through its
# LLVMFuzzerTestOneInput), and libFuzzer targets in the fuzz build: .build-fuzz, -DFUZZING, -sanitize=fuzzer,address.
TEST_SUITES += test-fuzz-corpus
BENCHES     += soak
.PHONY: test-fuzz-corpus fuzz fuzz-build fuzz-seeds soak
FUZZ_TARGETS  := $(sort $(patsubst Tests/fuzz/decode/%.swift,fuzz-decode-%,$(wildcard Tests/fuzz/decode/*.swift))) fuzz-services \
                 fuzz-json
FUZZ_SECONDS  ?= 30
FUZZ_SCRATCH  ?= .build-fuzz
# Extra libFuzzer flags for `make fuzz`, e.g. FUZZ_FLAGS=-jobs=2
FUZZ_FLAGS    ?=

## test-fuzz-corpus: replay every fuzz target's corpus (Tests/fuzz/corpus/<target>/) through its entry point
test-fuzz-corpus:
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS)
	@for t in $(FUZZ_TARGETS); do "$(BIN)/$$t" Tests/fuzz/corpus/$$t || { echo "test-fuzz-corpus: $$t failed"; exit 1; }; done

# SwiftPM's `--sanitize fuzzer --sanitize address` passes two -sanitize= flags to swiftc and the last one wins (in
# an order that varies): the Swift modules came out with ASan but no coverage. `-Xswiftc -sanitize=fuzzer,address`
# comes last and sets both; the --sanitize flags are still needed to link libFuzzer and the ASan runtime.
FUZZ_BUILD_FLAGS := -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address \
                    --sanitize fuzzer --sanitize address
## fuzz-build: build the libFuzzer targets in .build-fuzz (-DFUZZING, -sanitize=fuzzer,address), one product at a time
fuzz-build:
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz-build: $$t"; \
	  $(SWIFT) build --scratch-path $(FUZZ_SCRATCH) $(FUZZ_BUILD_FLAGS) --product $$t 2>&1 | grep -v "Cannot export local symbol" \
	    | grep -E "error|warning: unre|Compiling|Linking|Build" | tail -3; \
	  test -x $(FUZZ_SCRATCH)/debug/$$t || exit 1; \
	done

## fuzz: run each fuzz target for FUZZ_SECONDS (default 30) over its corpus; prints executions per target and in all
fuzz: fuzz-build
	Tests/fuzz/run.sh "$(CURDIR)/$(FUZZ_SCRATCH)/debug" "$(FUZZ_SECONDS)" "$(FUZZ_FLAGS)" $(FUZZ_TARGETS)

## fuzz-seeds: rewrite the seed-* files of the corpus from valid requests built with grpcio (Tests/fuzz/seed_corpus.py)
fuzz-seeds: deps-py
	$(PY) Tests/fuzz/seed_corpus.py

## soak: crash soak: 8 clients, 1,000 mixed RPCs, the driver SIGKILLed at random points; orphans and retries checked
soak: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	EVSSNAP_BIN="$(BIN)" $(PY) Tests/conformance/soak_crash.py
