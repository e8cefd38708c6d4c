# ---- Tests: the Swift suites, the pytest harness, sanitizers, and per-module shortcuts
TEST_SUITES += test-swift test-py
.PHONY: test-swift test-py asan test-domain test-time test-json test-node test-kube test-plugin test-conformance test-deploy test-schedules

# Serial on purpose: several suites time real gRPC calls, and a suite that blocks Swift's 2-thread cooperative pool
# (file I/O, subprocesses) would starve them on a 2-core machine.
## test-swift: the Swift Testing suites, one per library (serial)
test-swift:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --no-parallel

## test-py: the pytest harness (Tests/conformance) against the built binaries
test-py: deps-py
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/conformance

## asan: every suite under AddressSanitizer + LeakSanitizer, the harness against the ASan-built binaries
## (toolchain-internal leaks are suppressed in Tests/lsan-suppressions.txt, each with its reason)
asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt \
	  $(MAKE) test SCRATCH=.build-asan SWIFTFLAGS="--sanitize=address"

## test-domain: the Everest rules and quantity tests only (seconds)
test-domain:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter EVSSnapshotRulesTests

## test-time: TimeCore's timestamp reader/writer, calendar arithmetic and duration parser (seconds)
test-time:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter TimeCoreTests

## test-json: JSONCore against JSONTestSuite (../shared/json-test-suite), Foundation, and its own cases (seconds)
test-json:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter JSONCoreTests

## test-node: NodeOps tests; the loop-device and mount tests need root and skip with a printed reason otherwise
test-node:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter NodeOpsTests

## test-kube: KubeCore (kubeconfig loader, Status errors, redaction), KubeClient end to end against the fake API server
## (needs python3, openssl), and the driver's KubeAccess on KubeCore's loader
test-kube:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter 'KubeClientTests|KubeAccessTests'

## test-plugin: the kubectl evssnap command tests (in-memory cluster; seconds)
test-plugin:
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter EVSSnapCLITests

## test-conformance: Identity/Controller/Node over the real socket, crash safety, process flags (Node tests need root)
test-conformance: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evs-csi-driver
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/conformance/test_controller.py Tests/conformance/test_node.py \
	  Tests/conformance/test_node_restart.py \
	  Tests/conformance/test_crash.py Tests/conformance/test_driver_process.py Tests/conformance/test_pvc_annotations.py

## test-schedules: the schedule domain and controller (fake API server, a test clock), the croniter comparison and
## the scheduler process with a SIGKILL mid-rotation (docs/schedules.md)
test-schedules: deps-py
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product schedule-next
	$(SWIFT) build -c $(CONFIG) $(SWIFT_SCRATCH) $(SWIFTFLAGS) --product evssnap-scheduler
	$(SWIFT) test $(SWIFT_SCRATCH) $(SWIFTFLAGS) --filter 'SnapshotSchedulesTests|ScheduleControllerTests|ScheduleCommandTests'
	EVSSNAP_BIN="$(BIN)" $(PY) -m pytest -q Tests/conformance/test_schedule_cron.py Tests/conformance/test_scheduler_process.py

## test-deploy: validate deploy/ against the Kubernetes OpenAPI schema and the project's rules (no build, no cluster)
test-deploy: deps-py
	$(PY) -m pytest -q Tests/conformance/test_deploy_manifests.py

## fake-apiserver: run the fake kube-apiserver in the foreground (prints its URL, CA and kubeconfig paths as JSON)
fake-apiserver:
	python3 Tests/fake-apiserver/fake_apiserver.py $(FAKE_ARGS)
