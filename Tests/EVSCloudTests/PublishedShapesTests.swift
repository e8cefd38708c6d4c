import EVSSnapshotRules
import Foundation
import HTTPTransport
import JSONCore
import Testing
@testable import EVSCloud

/// Issue 20: what the fake used to accept and Huawei Cloud refuses. Each test names the point of the issue and the
/// published source the fake now follows (docs/evs.md, "Where EVS and the backend disagreed").
@Suite("EVS backend as EVS answers (issue 20)", .serialized)
struct PublishedShapesTests {
    let fake: FakeEVS
    init() throws { fake = try FakeEVS.started() }

    func volume(_ id: DiskID) throws -> JSON {
        try #require(try fake.volumes().first { $0["id"].string == id.rawValue })
    }

    func readySnapshot(of disk: DiskID, name: String, backend: EVSCloudBackend) throws -> Snapshot {
        let snapshot = try withDeadline(10) { try backend.createSnapshot(name: name, sourceDisk: disk) }
        var waited = 0
        while try withDeadline(10, { try backend.getSnapshot(snapshot.id) })?.status != .available {
            waited += 1
            try #require(waited < 200, "snapshot \(snapshot.id) never became available")
            Thread.sleep(forTimeInterval: 0.05)
        }
        return snapshot
    }

    @Test("1: a restore sends no hw:passthrough / __system__ keys (EVS.1043); the new disk takes them from the snapshot")
    func restoreMetadata() throws {
        let backend = fake.backend()
        let spec = DiskSpec(capacityGiB: 10, type: .ssd, mode: .scsi, encryption: .kms(keyID: "kms-key-20"))
        let source = try withDeadline(10) { try backend.createDisk(name: "pvc-r1", spec: spec, source: nil) }
        let snapshot = try readySnapshot(of: source.id, name: "snap-r1", backend: backend)
        let restored = try withDeadline(10) {
            try backend.createDisk(name: "pvc-r1-restore", spec: DiskSpec(capacityGiB: 10), source: snapshot.id)
        }
        #expect(restored.mode == .scsi && restored.encryption == .kms(keyID: "kms-key-20") && restored.type == .ssd)
        let made = try volume(restored.id)
        #expect(made["snapshot_id"].string == snapshot.id.rawValue)
        #expect(made["metadata"]["hw:passthrough"].string == "true")
        #expect(made["metadata"]["__system__cmkid"].string == "kms-key-20")
    }

    @Test("R8 after the restore: a disk EVS made with another mode than the snapshot's source is an error and is deleted")
    func restoreCheckedAfterCreation() throws {
        let backend = fake.backend()
        let source = try withDeadline(10) {
            try backend.createDisk(name: "pvc-r8", spec: DiskSpec(capacityGiB: 10, mode: .scsi), source: nil)
        }
        let snapshot = try readySnapshot(of: source.id, name: "snap-r8", backend: backend)
        // EVS would give the new disk VBD, while the snapshot's record (and R8's check before the call) says SCSI.
        try fake.control("POST", "/_fake/snapshot-source", ["id": .string(snapshot.id.rawValue), "metadata": ["hw:passthrough": "false"]])
        do {
            _ = try withDeadline(10) { try backend.createDisk(name: "pvc-r8-restore", spec: DiskSpec(capacityGiB: 10), source: snapshot.id) }
            Issue.record("expected R8")
        } catch {
            #expect(error.rule == .r8, "\(error)")
            #expect(error.description.contains("VBD") && error.description.contains("SCSI"), "\(error)")
        }
        #expect(try fake.volumes().map { $0["id"].string } == [source.id.rawValue], "the mismatching disk is deleted")
    }

    @Test("R8 also when a retried restore finds the disk its first attempt made before that attempt could check it")
    func restoreCheckedOnRetry() throws {
        let backend = fake.backend()
        let source = try withDeadline(10) {
            try backend.createDisk(name: "pvc-r8b", spec: DiskSpec(capacityGiB: 10, mode: .scsi), source: nil)
        }
        let snapshot = try readySnapshot(of: source.id, name: "snap-r8b", backend: backend)
        try fake.control("POST", "/_fake/snapshot-source", ["id": .string(snapshot.id.rawValue), "metadata": ["hw:passthrough": "false"]])
        // The first attempt's job outlives its call (ABORTED-class); the disk it made is VBD.
        try fake.faults([["method": "POST", "path": "cloudvolumes#job", "action": "slow-job", "count": 1, "seconds": .number(1.5)]])
        do {
            _ = try withDeadline(0.8) { try backend.createDisk(name: "pvc-r8b-restore", spec: DiskSpec(capacityGiB: 10), source: snapshot.id) }
            Issue.record("expected the deadline to pass first")
        } catch {
            #expect({ if case .rule(.operationInFlight) = error { true } else { false } }(), "\(error)")
        }
        #expect(try fake.volumes().count == 2)
        do {
            _ = try withDeadline(10) { try backend.createDisk(name: "pvc-r8b-restore", spec: DiskSpec(capacityGiB: 10), source: snapshot.id) }
            Issue.record("expected R8")
        } catch {
            #expect(error.rule == .r8 && error.description.contains("VBD"), "\(error)")
        }
        #expect(try fake.volumes().map { $0["id"].string } == [source.id.rawValue], "the mismatching disk is deleted")
    }

    @Test("2: no \"count\": a createVolume job with entities.volume_id; a batch job's disk is read from entities.sub_jobs")
    func createJobShape() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-count", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let jobs = try fake.state()["jobs"].array ?? []
        #expect(jobs.compactMap { $0["job_type"].string } == ["createVolume"])
        #expect(jobs.first?["entities"]["volume_id"].string == disk.id.rawValue)
        // The job page's batch example: the disk ids are in entities.sub_jobs[].entities.volume_id.
        let batch = try JSON.parse(Array("""
            {"status": "SUCCESS", "job_type": "batchCreateVolume", "job_id": "j1", "entities": {"sub_jobs": [
             {"status": "SUCCESS", "entities": {"volume_id": "0b549095-4937-4849-8e4c-52aa027d64f7"}, "job_id": "j2",
              "job_type": "createVolume"}]}}
            """.utf8))
        #expect(EVSJob(json: batch).volumeID == "0b549095-4937-4849-8e4c-52aa027d64f7")
    }

    @Test("3: detaching a disk ECS already sees detached (400 Ecs.0111) is done; attaching an in-use disk is Ecs.0103")
    func detachAlreadyDetached() throws {
        let backend = fake.backend()
        let server = fake.servers[0]
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-0111", spec: DiskSpec(capacityGiB: 10), source: nil) }
        _ = try withDeadline(10) { try backend.attach(disk: disk.id, node: server, readOnly: false) }
        try fake.faults([["method": "DELETE", "path": "detachvolume", "action": "detached", "count": 1]])
        try withDeadline(10) { try backend.detach(disk: disk.id, node: server) }
        let after = try volume(disk.id)
        #expect(after["attachments"].array?.isEmpty == true && after["status"].string == "available")
        #expect(!(after["metadata"].object ?? [:]).keys.contains(EVSMetadata.attachMode(server: server)))
        // The fake's attach of a disk in use elsewhere answers as ECS's error table says; the backend maps it to busy.
        _ = try withDeadline(10) { try backend.attach(disk: disk.id, node: server, readOnly: false) }
        do {
            _ = try backend.client.call(.ecs, "POST", "/v1/\(fake.projectID)/cloudservers/\(fake.servers[1])/attachvolume",
                                        body: ["volumeAttachment": ["volumeId": .string(disk.id.rawValue)]],
                                        operation: "test attach", budget: CallBudget(.seconds(5)))
            Issue.record("expected Ecs.0103")
        } catch {
            #expect(error.status == 400 && error.code == "Ecs.0103", "\(error)")
            #expect({ if case .busy = backend.map(error, kind: "server", id: "s") { true } else { false } }())
        }
        try withDeadline(10) { try backend.detach(disk: disk.id, node: server) }
    }

    @Test("4: a malformed id (400 EVS.1002) is no such disk; a wrong project id (400 EVS.0001) is an error, not success")
    func badIDs() throws {
        let backend = fake.backend()
        #expect(try withDeadline(10) { try backend.getDisk("not-a-volume-id") } == nil)
        try withDeadline(10) { try backend.deleteDisk("not-a-volume-id") }  // idempotent: nothing to delete
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-proj", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let wrong = fake.backend(projectID: String(repeating: "0", count: 32))
        do {
            try withDeadline(10) { try wrong.deleteDisk(disk.id) }
            Issue.record("a wrong project id reported success")
        } catch {
            #expect({ if case .invalid = error { true } else { false } }(), "\(error)")
            #expect(error.description.contains("EVS.0001"), "\(error)")
        }
        #expect(try fake.volumes().count == 1)
    }

    @Test("5: quota codes EVS.1034 / EVS.1042 (400) are limitExceeded (RESOURCE_EXHAUSTED), not invalid")
    func quota() throws {
        let backend = fake.backend()
        try fake.faults([], settings: ["quota_volumes": 1, "quota_gib": 100])
        defer { try? fake.faults([], settings: ["quota_volumes": -1, "quota_gib": -1]) }
        _ = try withDeadline(10) { try backend.createDisk(name: "pvc-q1", spec: DiskSpec(capacityGiB: 10), source: nil) }
        for (name, gib, code) in [("pvc-q2", 10, "EVS.1034")] {
            do {
                _ = try withDeadline(10) { try backend.createDisk(name: name, spec: DiskSpec(capacityGiB: gib), source: nil) }
                Issue.record("expected \(code)")
            } catch {
                guard case .limitExceeded(let text) = error else { Issue.record("\(error)"); continue }
                #expect(text.contains(code))
            }
        }
        try fake.faults([], settings: ["quota_volumes": -1, "quota_gib": 15])
        do {
            _ = try withDeadline(10) { try backend.createDisk(name: "pvc-q3", spec: DiskSpec(capacityGiB: 10), source: nil) }
            Issue.record("expected EVS.1042")
        } catch {
            guard case .limitExceeded(let text) = error else { Issue.record("\(error)"); return }
            #expect(text.contains("EVS.1042"))
        }
        #expect(try fake.volumes().count == 1)
    }

    @Test("6: list pages leave a zero offset out (the reference: offset > 0)")
    func noZeroOffset() throws {
        let backend = fake.backend()
        _ = try withDeadline(10) { try backend.createDisk(name: "pvc-off", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(try withDeadline(10) { try backend.listDisks(maxEntries: 0, startingToken: nil) }.items.count == 1)
        _ = try withDeadline(10) { try backend.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil) }
        let log = try fake.control("GET", "/_fake/log")["requests"].array ?? []
        let lists = log.compactMap { $0["path"].string }.filter { $0.contains("/detail") }
        #expect(!lists.isEmpty && lists.allSatisfy { !$0.contains("offset=") }, "\(lists)")
    }

    @Test("7: a tagged disk in error_extending / rollbacking is never deleted by a repeated create; delete waits or refuses")
    func statuses() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-st", spec: DiskSpec(capacityGiB: 10), source: nil) }
        for status in ["error_extending", "rollbacking", "error_rollbacking", "awaiting-transfer"] {
            try fake.control("POST", "/_fake/volume-status", ["id": .string(disk.id.rawValue), "status": .string(status)])
            let again = try withDeadline(10) { try backend.createDisk(name: "pvc-st", spec: DiskSpec(capacityGiB: 10), source: nil) }
            #expect(again.id == disk.id, "\(status)")
            #expect(try volume(disk.id)["status"].string == status, "\(status): the disk is still there, untouched")
        }
        for status in ["rollbacking", "awaiting-transfer", "extending"] {
            try fake.control("POST", "/_fake/volume-status", ["id": .string(disk.id.rawValue), "status": .string(status)])
            do {
                try withDeadline(2) { try backend.deleteDisk(disk.id) }
                Issue.record("\(status): expected a refusal")
            } catch {
                let inFlight = { if case .rule(.operationInFlight) = error { true } else { false } }()
                let busy = { if case .busy = error { true } else { false } }()
                #expect(inFlight || busy, "\(status): \(error)")
                #expect(error.description.contains(disk.id.rawValue), "\(error)")
            }
            #expect(try volume(disk.id)["status"].string == status)
        }
        try fake.control("POST", "/_fake/volume-status", ["id": .string(disk.id.rawValue), "status": "available"])
        try withDeadline(10) { try backend.deleteDisk(disk.id) }
    }

    @Test("8: a SCSI disk is found by scsi-3<wwn>; without a WWN by the virtio serial (huaweicloud-csi-driver's node)")
    func deviceNames() throws {
        let id = "0b549095-4937-4849-8e4c-52aa027d64f7"
        #expect(DeviceFinder.linkNames(volumeID: id, mode: .scsi, wwn: nil) == ["virtio-0b549095-4937-4849-8", "virtio-" + id])
        #expect(DeviceFinder.linkNames(volumeID: id, mode: .vbd, wwn: nil) == ["virtio-0b549095-4937-4849-8", "virtio-" + id])
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-wwn", spec: DiskSpec(capacityGiB: 10, mode: .scsi), source: nil) }
        let attachment = try withDeadline(10) { try backend.attach(disk: disk.id, node: fake.servers[0], readOnly: false) }
        let wwn = try #require(try volume(disk.id)["wwn"].string)
        #expect(attachment.devicePath == "/dev/disk/by-id/scsi-3" + wwn)
        try withDeadline(10) { try backend.detach(disk: disk.id, node: fake.servers[0]) }
    }

    @Test("every EVS answer status is as published: 202 for create, extend, snapshot create and delete")
    func statusCodes() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-202", spec: DiskSpec(capacityGiB: 10), source: nil) }
        _ = try withDeadline(10) { try backend.expand(disk: disk.id, newCapacityGiB: 20) }
        let snapshot = try readySnapshot(of: disk.id, name: "snap-202", backend: backend)
        try withDeadline(10) { try backend.deleteSnapshot(snapshot.id) }
        let log = try fake.control("GET", "/_fake/log")["requests"].array ?? []
        func status(_ method: String, _ suffix: String) -> [Int] {
            log.filter { $0["method"].string == method && ($0["path"].string ?? "").hasSuffix(suffix) }.compactMap { $0["status"].int }
        }
        #expect(status("POST", "/cloudvolumes") == [202])
        #expect(status("POST", "/action") == [202])
        #expect(status("POST", "/cloudsnapshots") == [202])
        #expect(status("DELETE", snapshot.id.rawValue) == [202])
    }
}

@Suite("AK/SK signing: the SDK's published test vector")
struct SDKSignerVectorTests {
    /// huaweicloud-sdk-go-v3 core/auth/signer/signer_test.go (TestSigner_Sign): AK "AccessKey", SK "SecretKey",
    /// X-Sdk-Date 20060102T150405Z, host example.huaweicloud.com, path /path. The SDK signs every header but
    /// Content-Type and names with "_" (TEST_UNDERSCORE), so only x-sdk-date here; its JSON body ends in a newline.
    @Test("GET /path?limit=1 and POST /path?key=value with a JSON body give the SDK's Authorization headers")
    func vectors() throws {
        let endpoint = try #require(ServiceEndpoint("https://example.huaweicloud.com"))
        let headers = [HTTPHeader("X-Sdk-Date", "20060102T150405Z"), HTTPHeader("TEST_UNDERSCORE", "TEST_VALUE")]
        let cases: [(HTTPRequest, String)] = [
            (HTTPRequest(method: "GET", endpoint: endpoint, path: "/path", query: [("limit", "1")], headers: headers),
             "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"),
            (HTTPRequest(method: "POST", endpoint: endpoint, path: "/path", query: [("key", "value")],
                         headers: headers + [HTTPHeader("Content-Type", "application/json")],
                         body: Array("{\"Name\":\"test\",\"Id\":1}\n".utf8)),
             "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"),
        ]
        for (request, expected) in cases {
            let (canonical, signed) = AKSKSigner.canonicalRequest(request)
            #expect(signed == "x-sdk-date")
            let toSign = AKSKSigner.stringToSign(canonicalRequest: canonical, sdkDate: "20060102T150405Z")
            let signature = AKSKSigner.signature(secretKey: "SecretKey", stringToSign: toSign)
            #expect(signature == expected)
            #expect(AKSKSigner.authorization(accessKey: "AccessKey", signedHeaders: signed, signature: signature)
                    == "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=\(expected)")
        }
    }
}
