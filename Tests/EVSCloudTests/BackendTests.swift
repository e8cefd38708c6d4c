import JSONCore
import EVSSnapshotRules
import Foundation
import Testing
@testable import EVSCloud

/// The EVS backend against the fake EVS + ECS + IAM service (real HTTPS, the published shapes, injected faults).
@Suite("EVS cloud backend on the fake", .serialized)
struct BackendTests {
    let fake: FakeEVS
    init() throws { fake = try FakeEVS.started() }

    func onlyVolume() throws -> JSON {
        let volumes = try fake.volumes()
        try #require(volumes.count == 1, "expected one disk, found \(volumes.count)")
        return volumes[0]
    }

    @Test("create: type, SCSI, shared and KMS encryption as EVS expresses them (AK/SK signed, verified by the fake)")
    func createAttributes() throws {
        let backend = fake.backend()
        let spec = DiskSpec(capacityGiB: 20, type: .ssd, mode: .scsi, encryption: .kms(keyID: "kms-key-1"),
                            sharing: .shared, fsType: .xfs, allowedZones: ["cn-north-4b"])
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-attrs", spec: spec, source: nil) }
        #expect(disk.type == .ssd && disk.mode == .scsi && disk.encryption == .kms(keyID: "kms-key-1"))
        #expect(disk.sharing == .shared && disk.fsType == .xfs && disk.topology.zone == "cn-north-4b")
        #expect(disk.status == .available && disk.capacityGiB == 20)
        let volume = try onlyVolume()
        #expect(volume["volume_type"].string == "SSD" && volume["multiattach"].bool == true)
        #expect(volume["metadata"]["hw:passthrough"].string == "true")
        #expect(volume["metadata"]["__system__encrypted"].string == "1")
        #expect(volume["metadata"]["__system__cmkid"].string == "kms-key-1")
        #expect(volume["metadata"][EVSMetadata.volumeName].string == "pvc-attrs")
        #expect(volume["availability_zone"].string == "cn-north-4b")
    }

    @Test("create is idempotent by the driver's tag; another spec under the same name is ALREADY_EXISTS")
    func createIdempotent() throws {
        let backend = fake.backend()
        let first = try withDeadline(10) { try backend.createDisk(name: "pvc-same", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let again = try withDeadline(10) { try backend.createDisk(name: "pvc-same", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(first.id == again.id)
        #expect(throws: BackendError.self) {
            try withDeadline(10) { try backend.createDisk(name: "pvc-same", spec: DiskSpec(capacityGiB: 30), source: nil) }
        }
        #expect(try fake.volumes().count == 1)
    }

    @Test("a disk of the same name without the driver's tag is not taken for the driver's (EVS allows duplicate names)")
    func untaggedNotTaken() throws {
        let backend = fake.backend()
        // A user's disk called pvc-dup, made outside the driver.
        _ = try backend.client.call(.evs, "POST", "/v2.1/\(fake.projectID)/cloudvolumes",
                                    body: ["volume": ["availability_zone": "cn-north-4a", "name": "pvc-dup", "size": 10,
                                                      "volume_type": "SAS"]],
                                    operation: "test", budget: CallBudget(.seconds(5)))
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-dup", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let volumes = try fake.volumes()
        #expect(volumes.count == 2)
        #expect(volumes.first { $0["id"].string == disk.id.rawValue }?["metadata"][EVSMetadata.volumeName].string == "pvc-dup")
    }

    @Test("fault 429 (gateway throttling) on create: retried with backoff, one disk")
    func throttled() throws {
        let backend = fake.backend()
        try fake.faults([["method": "POST", "path": "cloudvolumes$", "action": "429", "count": 3]])
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-429", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(disk.status == .available)
        #expect(backend.client.stats.retries >= 3)
        #expect(try fake.volumes().count == 1)
    }

    @Test("fault 500 after the disk was made: the retry finds it by its tag, never two")
    func serverErrorAfterCommit() throws {
        let backend = fake.backend()
        try fake.faults([["method": "POST", "path": "cloudvolumes$", "action": "500-after", "count": 1]])
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-500", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let volume = try onlyVolume()
        #expect(volume["id"].string == disk.id.rawValue)
        #expect(try fake.state()["requests"]["POST /v2.1/{id}/cloudvolumes"].int == 1)
    }

    @Test("fault 500 before anything is done, on GET: retried; on every try: UNAVAILABLE-class error within the deadline")
    func serverErrors() throws {
        let backend = fake.backend()
        let made = try withDeadline(10) { try backend.createDisk(name: "pvc-get", spec: DiskSpec(capacityGiB: 10), source: nil) }
        try fake.faults([["method": "GET", "path": "cloudvolumes/[0-9a-f-]{36}$", "action": "500", "count": 2]])
        #expect(try withDeadline(10) { try backend.getDisk(made.id) }?.id == made.id)
        try fake.faults([["method": "GET", "path": "cloudvolumes/[0-9a-f-]{36}$", "action": "500", "count": -1]])
        let start = ContinuousClock.now
        do {
            _ = try withDeadline(1.5) { try backend.getDisk(made.id) }
            Issue.record("expected a failure")
        } catch {
            guard case .deadlineExceeded(let text) = error else { Issue.record("\(error)"); return }
            // The last attempt either got the 500 or was cut short by the deadline itself.
            #expect(text.contains("EVS.2002") || text.contains("curl exit 28"), "\(text)")
        }
        #expect(ContinuousClock.now - start < .seconds(10))  // ends at the 1.5 s deadline, not after endless retries
    }

    @Test("fault: the create job fails: the disk it left in error is deleted, the call fails, nothing remains")
    func failedJob() throws {
        let backend = fake.backend()
        try fake.faults([["method": "POST", "path": "cloudvolumes#job", "action": "fail-job", "count": 1]])
        do {
            _ = try withDeadline(10) { try backend.createDisk(name: "pvc-fail", spec: DiskSpec(capacityGiB: 10), source: nil) }
            Issue.record("expected a failure")
        } catch {
            guard case .unavailable(let text) = error else { Issue.record("\(error)"); return }
            #expect(text.contains("EVS.2001"))
        }
        #expect(try fake.volumes().isEmpty)
        // The provisioner's retry then makes the disk.
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-fail", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(try onlyVolume()["id"].string == disk.id.rawValue)
    }

    @Test("fault: a slow job outlives the call: ABORTED-class in-flight error; the repeated call returns the same disk")
    func slowJob() throws {
        let backend = fake.backend()
        // The job is held until the test releases it: the deadline passes first by state, not by a race with a clock.
        try fake.faults([["method": "POST", "path": "cloudvolumes#job", "action": "slow-job", "count": 1, "seconds": -1]])
        do {
            _ = try withDeadline(5) { try backend.createDisk(name: "pvc-slow", spec: DiskSpec(capacityGiB: 10), source: nil) }
            Issue.record("expected the deadline to pass first")
        } catch {
            #expect(error.rule == .r14 || { if case .rule(.operationInFlight) = error { true } else { false } }(), "\(error)")
        }
        try fake.release()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-slow", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(disk.status == .available)
        #expect(try onlyVolume()["id"].string == disk.id.rawValue)
    }

    @Test("IAM token: cached, refreshed before expiry, and fetched again when revoked mid-run")
    func tokens() throws {
        let backend = fake.backend(credentials: fake.passwordCredentials)
        _ = try withDeadline(10) { try backend.listDisks(maxEntries: 0, startingToken: nil) }
        _ = try withDeadline(10) { try backend.listDisks(maxEntries: 0, startingToken: nil) }
        #expect(backend.client.stats.tokensFetched == 1)
        try fake.control("POST", "/_fake/expire-tokens")
        _ = try withDeadline(10) { try backend.createDisk(name: "pvc-tok", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(backend.client.stats.tokensFetched == 2 && backend.client.stats.reauthentications == 1)
        // Tokens that live 2 s with a 1 s margin are replaced before they expire, without a 401.
        try fake.faults([], settings: ["token_ttl": 2])
        try fake.control("POST", "/_fake/expire-tokens")
        _ = try withDeadline(10) { try backend.listDisks(maxEntries: 0, startingToken: nil) }
        Thread.sleep(forTimeInterval: 1.2)
        _ = try withDeadline(10) { try backend.listDisks(maxEntries: 0, startingToken: nil) }
        #expect(backend.client.stats.tokensFetched == 4 && backend.client.stats.reauthentications == 2)
    }

    @Test("wrong credentials: PERMISSION_DENIED whose text never holds the secret")
    func wrongCredentials() throws {
        let backend = fake.backend(credentials: .accessKey(accessKey: fake.accessKey, secretKey: "WRONG-SECRET-VALUE", securityToken: nil))
        do {
            _ = try withDeadline(5) { try backend.listDisks(maxEntries: 0, startingToken: nil) }
            Issue.record("expected a refusal")
        } catch {
            #expect({ if case .permissionDenied = error { true } else { false } }())
            #expect(!error.description.contains("WRONG-SECRET-VALUE") && !error.description.contains(fake.secretKey))
            #expect(error.description.contains("APIGW.0301"))
        }
        let bad = fake.backend(credentials: .password(user: "evssnap-csi", password: "NOT-THE-PASSWORD", domain: "evssnap-domain"))
        do {
            _ = try withDeadline(5) { try bad.listDisks(maxEntries: 0, startingToken: nil) }
            Issue.record("expected a refusal")
        } catch {
            #expect({ if case .permissionDenied = error { true } else { false } }() && !error.description.contains("NOT-THE-PASSWORD"))
        }
    }

    @Test("snapshots: force for an in-use disk (issue 125), ready_to_use later, R5 quota before EVS, R13 on delete")
    func snapshots() throws {
        var rules = RuleSettings.default
        rules.maxSnapshotsPerDisk = 2
        let backend = fake.backend(rules: rules)
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-snap", spec: DiskSpec(capacityGiB: 10), source: nil) }
        _ = try withDeadline(10) { try backend.attach(disk: disk.id, node: fake.servers[0], readOnly: false) }
        #expect(try withDeadline(10) { try backend.getDisk(disk.id) }?.status == .inUse)
        let s1 = try withDeadline(10) { try backend.createSnapshot(name: "snap-1", sourceDisk: disk.id) }
        #expect(s1.status == .creating)  // ready_to_use=false
        let again = try withDeadline(10) { try backend.createSnapshot(name: "snap-1", sourceDisk: disk.id) }
        #expect(again.id == s1.id)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try withDeadline(10) { try backend.getSnapshot(s1.id) }?.status == .available)
        _ = try withDeadline(10) { try backend.createSnapshot(name: "snap-2", sourceDisk: disk.id) }
        do {
            _ = try withDeadline(10) { try backend.createSnapshot(name: "snap-3", sourceDisk: disk.id) }
            Issue.record("R5 should refuse")
        } catch {
            #expect(error.rule == .r5)
        }
        #expect(try fake.snapshots().count == 2)
        #expect(try fake.state()["requests"]["POST /v2/{id}/cloudsnapshots"].int == 2)
        // Another disk under a taken snapshot name.
        let other = try withDeadline(10) { try backend.createDisk(name: "pvc-other", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(throws: BackendError.self) { try withDeadline(10) { try backend.createSnapshot(name: "snap-1", sourceDisk: other.id) } }
        // R13: a disk with snapshots is not deleted; an attached one neither.
        do {
            try withDeadline(10) { try backend.deleteDisk(disk.id) }
            Issue.record("R13 should refuse")
        } catch {
            #expect(error.rule == .r13)
        }
        #expect(throws: BackendError.self) { try withDeadline(10) { try backend.createSnapshot(name: "snap-x", sourceDisk: "no-such-disk") } }
    }

    @Test("fault: a snapshot EVS fails to make is deleted and taken anew by the repeated call")
    func failedSnapshot() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-sf", spec: DiskSpec(capacityGiB: 10), source: nil) }
        try fake.faults([["method": "POST", "path": "cloudsnapshots#job", "action": "fail-job", "count": 1]])
        let first = try withDeadline(10) { try backend.createSnapshot(name: "snap-f", sourceDisk: disk.id) }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try withDeadline(10) { try backend.getSnapshot(first.id) }?.status == .error)
        let second = try withDeadline(10) { try backend.createSnapshot(name: "snap-f", sourceDisk: disk.id) }
        #expect(second.id != first.id)
        let snapshots = try fake.snapshots()
        #expect(snapshots.count == 1 && snapshots[0]["id"].string == second.id.rawValue)
    }

    @Test("restore: R8 refuses another type before EVS is called; a matching restore carries snapshot_id and R6 encryption")
    func restore() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) {
            try backend.createDisk(name: "pvc-src", spec: DiskSpec(capacityGiB: 10, type: .ssd, encryption: .kms(keyID: "k1")), source: nil)
        }
        // The fake holds the snapshot in `creating` until the test releases it: R11 is decided by that state, not by
        // a race between the call's deadline and the fake's clock (a busy machine ate a 1.5 s margin once). The
        // deadline only has to let the first look at the snapshot through.
        try fake.faults([], settings: ["snapshot_seconds": -1])
        let snapshot = try withDeadline(10) { try backend.createSnapshot(name: "snap-src", sourceDisk: disk.id) }
        // R11: still creating when the call's deadline comes.
        do {
            _ = try withDeadline(5) { try backend.createDisk(name: "pvc-early", spec: DiskSpec(capacityGiB: 10), source: snapshot.id) }
            Issue.record("R11 should refuse")
        } catch {
            #expect(error.rule == .r11, "\(error)")
        }
        #expect(try fake.volumes().count == 1)
        try fake.release()
        // Within a longer deadline the restore waits for the snapshot; first R8 refuses another type.
        do {
            _ = try withDeadline(10) {
                try backend.createDisk(name: "pvc-sas", spec: DiskSpec(capacityGiB: 10, type: .sas), source: snapshot.id)
            }
            Issue.record("R8 should refuse")
        } catch {
            #expect(error.rule == .r8)
        }
        #expect(try fake.volumes().count == 1)
        let restored = try withDeadline(10) { try backend.createDisk(name: "pvc-rest", spec: DiskSpec(capacityGiB: 10), source: snapshot.id) }
        #expect(restored.type == .ssd && restored.encryption == .kms(keyID: "k1"))
        let volume = try #require(try fake.volumes().first { $0["id"].string == restored.id.rawValue })
        #expect(volume["snapshot_id"].string == snapshot.id.rawValue)
        #expect(volume["metadata"]["__system__cmkid"].string == "k1")
    }

    @Test("attach and detach through ECS: idempotent, non-shared busy elsewhere, the device path by serial")
    func attachDetach() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-att", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let a = try withDeadline(10) { try backend.attach(disk: disk.id, node: fake.servers[0], readOnly: false) }
        #expect(a.devicePath == "/dev/disk/by-id/virtio-" + String(disk.id.rawValue.prefix(20)))
        #expect(try withDeadline(10) { try backend.attach(disk: disk.id, node: fake.servers[0], readOnly: false) } == a)
        do {
            _ = try withDeadline(10) { try backend.attach(disk: disk.id, node: fake.servers[1], readOnly: false) }
            Issue.record("expected busy")
        } catch {
            #expect({ if case .busy = error { true } else { false } }(), "\(error)")
        }
        #expect(try withDeadline(10) { try backend.attachments(of: disk.id) }.map(\.nodeID) == [fake.servers[0]])
        do {
            try withDeadline(10) { try backend.deleteDisk(disk.id) }
            Issue.record("expected R13")
        } catch {
            #expect(error == .rule(.diskAttached(disk: disk.id, nodes: [fake.servers[0]])), "\(error)")
        }
        try withDeadline(10) { try backend.detach(disk: disk.id, node: fake.servers[0]) }
        try withDeadline(10) { try backend.detach(disk: disk.id, node: fake.servers[0]) }
        #expect(try withDeadline(10) { try backend.getDisk(disk.id) }?.status == .available)
        try withDeadline(10) { try backend.deleteDisk(disk.id) }
        try withDeadline(10) { try backend.deleteDisk(disk.id) }
        #expect(try fake.volumes().isEmpty)
    }

    @Test("publish mode kept in the disk's EVS metadata: same mode idempotent, the other alreadyExists, detach drops it")
    func attachModeRecorded() throws {
        let backend = fake.backend()
        let server = fake.servers[0]
        let key = EVSMetadata.attachMode(server: server)
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-mode", spec: DiskSpec(capacityGiB: 10), source: nil) }
        let a = try withDeadline(10) { try backend.attach(disk: disk.id, node: server, readOnly: true) }
        #expect(try onlyVolume()["metadata"][key].string == EVSMetadata.readOnly)
        #expect(try withDeadline(10) { try backend.attach(disk: disk.id, node: server, readOnly: true) } == a)
        do {
            _ = try withDeadline(10) { try backend.attach(disk: disk.id, node: server, readOnly: false) }
            Issue.record("expected alreadyExists")
        } catch {
            #expect({ if case .alreadyExists = error { true } else { false } }(), "\(error)")
            #expect(error.description.contains("read-only") && error.description.contains("read-write"), "\(error)")
        }
        try withDeadline(10) { try backend.detach(disk: disk.id, node: server) }
        #expect(try onlyVolume()["metadata"][key].isNull)
        _ = try withDeadline(10) { try backend.attach(disk: disk.id, node: server, readOnly: false) }
        #expect(try onlyVolume()["metadata"][key].string == EVSMetadata.readWrite)
        try withDeadline(10) { try backend.detach(disk: disk.id, node: server) }
        try withDeadline(10) { try backend.deleteDisk(disk.id) }
        #expect(try fake.volumes().isEmpty)
    }

    @Test("expand through os-extend; never shrinks; R12 bound")
    func expand() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-exp", spec: DiskSpec(capacityGiB: 10), source: nil) }
        #expect(try withDeadline(10) { try backend.expand(disk: disk.id, newCapacityGiB: 25) }.capacityGiB == 25)
        #expect(try withDeadline(10) { try backend.expand(disk: disk.id, newCapacityGiB: 12) }.capacityGiB == 25)
        do {
            _ = try withDeadline(10) { try backend.expand(disk: disk.id, newCapacityGiB: 40000) }
            Issue.record("R12 should refuse")
        } catch {
            #expect(error.rule == .r12)
        }
        #expect(try fake.volumes()[0]["size"].int == 25)
    }

    @Test("listing pages: stable tokens across deletes; a foreign token is refused")
    func paging() throws {
        let backend = fake.backend()
        var ids: [DiskID] = []
        for i in 0..<5 {
            ids.append(try withDeadline(10) { try backend.createDisk(name: "pvc-page-\(i)", spec: DiskSpec(capacityGiB: 10), source: nil) }.id)
        }
        let first = try withDeadline(10) { try backend.listDisks(maxEntries: 2, startingToken: nil) }
        #expect(first.items.map(\.id) == Array(ids[0..<2]))
        let token = try #require(first.nextToken)
        try withDeadline(10) { try backend.deleteDisk(ids[1]) }
        let second = try withDeadline(10) { try backend.listDisks(maxEntries: 2, startingToken: token) }
        #expect(second.items.map(\.id) == Array(ids[2..<4]))
        let third = try withDeadline(10) { try backend.listDisks(maxEntries: 2, startingToken: second.nextToken) }
        #expect(third.items.map(\.id) == [ids[4]] && third.nextToken == nil)
        #expect(throws: BackendError.invalidToken("bogus")) { try withDeadline(10) { try backend.listDisks(maxEntries: 2, startingToken: "bogus") } }
    }
}

@Suite("Device lookup by serial under /dev/disk/by-id")
struct DeviceFinderTests {
    @Test("names: VBD is virtio-<first 20 characters of the id> (or the whole id), SCSI is scsi-3<wwn>")
    func names() {
        let id = "0b549095-4937-4849-8e4c-52aa027d64f7"
        #expect(DeviceFinder.linkNames(volumeID: id, mode: .vbd, wwn: nil) == ["virtio-0b549095-4937-4849-8", "virtio-" + id])
        #expect(DeviceFinder.linkNames(volumeID: id, mode: .scsi, wwn: "6888603000008B2CFA16")
                == ["scsi-36888603000008b2cfa16", "wwn-0x6888603000008b2cfa16"])
    }

    @Test("waits for the link to appear within the deadline and resolves it")
    func appears() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("byid-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let device = dir + "/vdc"
        FileManager.default.createFile(atPath: device, contents: Data())
        let id = "0b549095-4937-4849-8e4c-52aa027d64f7"
        let finder = DeviceFinder(byIDDirectory: dir, pollInterval: .milliseconds(20))
        #expect(!FileManager.default.fileExists(atPath: dir + "/virtio-0b549095-4937-4849-8"))
        let thread = Thread {
            Thread.sleep(forTimeInterval: 0.3)
            try? FileManager.default.createSymbolicLink(atPath: dir + "/virtio-0b549095-4937-4849-8", withDestinationPath: "vdc")
        }
        thread.start()
        let found = try finder.find(volumeID: id, mode: .vbd, wwn: nil, deadline: .now + .seconds(30))
        #expect(found == device)
        // It waited for the link rather than failing at the first look (no margin on the clock: the thread makes the
        // link only after its sleep, so the find cannot have returned before it).
    }

    @Test("gives up at the deadline and names what it looked for")
    func timesOut() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("byid-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let finder = DeviceFinder(byIDDirectory: dir, pollInterval: .milliseconds(20))
        let start = ContinuousClock.now
        do {
            _ = try finder.find(volumeID: "abc", mode: .scsi, wwn: "68886030", deadline: .now + .milliseconds(300))
            Issue.record("expected notAttached")
        } catch {
            #expect(error.description.contains("scsi-368886030"))
        }
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(300) && took < .seconds(10))  // at the deadline, not forever
    }
}

@Suite("Credentials")
struct CredentialsTests {
    @Test("a mounted Secret (directory) and a key=value file; descriptions never show secrets")
    func load() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cred-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "AKIDEXAMPLE\n".write(toFile: dir + "/access_key", atomically: true, encoding: .utf8)
        try "TOP-SECRET-SK".write(toFile: dir + "/secret_key", atomically: true, encoding: .utf8)
        let fromDir = try CloudCredentials.load(path: dir)
        guard case .accessKey(let ak, let sk, nil) = fromDir else { Issue.record("\(fromDir)"); return }
        #expect(ak == "AKIDEXAMPLE" && sk == "TOP-SECRET-SK")
        #expect(!fromDir.description.contains("TOP-SECRET-SK") && !fromDir.description.contains("AKIDEXAMPLE"))
        let file = dir + "/iam.env"
        try "# comment\nusername = csi\npassword=P@ss=word\ndomain_name=dom\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try CloudCredentials.load(path: file)
        guard case .password("csi", "P@ss=word", "dom") = fromFile else { Issue.record("\(fromFile)"); return }
        #expect(!fromFile.description.contains("P@ss"))
    }

    @Test("missing keys are named, values never")
    func incomplete() throws {
        do {
            _ = try CloudCredentials.from(values: ["access_key": "AK-VALUE"], source: "test")
            Issue.record("expected incomplete")
        } catch {
            #expect(error.description.contains("secret_key") && !error.description.contains("AK-VALUE"))
        }
        #expect(throws: CredentialsError.self) { try CloudCredentials.load(path: "/nonexistent/credentials") }
    }

    @Test("a key file over 1 MiB or unreadable is refused naming the file and the reason, never its content")
    func unreadable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cred-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "AKID\n".write(toFile: dir + "/access_key", atomically: true, encoding: .utf8)
        try String(repeating: "S", count: (1 << 20) + 1).write(toFile: dir + "/secret_key", atomically: true, encoding: .utf8)
        do {
            _ = try CloudCredentials.load(path: dir)
            Issue.record("expected unreadable")
        } catch {
            #expect(error.description.contains(dir + "/secret_key") && error.description.contains("larger than 1048576 bytes"),
                    "\(error)")
            #expect(!error.description.contains("SSSS"))
        }
        do {
            _ = try CloudCredentials.load(path: "/nonexistent/credentials")
        } catch {
            #expect(error.description.contains("/nonexistent/credentials") && error.description.contains("No such file"), "\(error)")
        }
    }
}
