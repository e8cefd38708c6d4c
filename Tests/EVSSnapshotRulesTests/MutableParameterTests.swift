import Testing
@testable import EVSSnapshotRules

/// ControllerModifyVolume and CreateVolume's `mutable_parameters`: only GPSSD2's iops and throughput change after
/// creation; type, mode, encryption and sharing are fixed (R8).
@Suite("Mutable parameters")
struct MutableParameterTests {
    static let iops = EverestNames.diskIOPS
    static let throughput = EverestNames.diskThroughput

    @Test("an empty map is no change, whatever the disk type")
    func empty() throws {
        for type in VolumeType.allCases {
            let change = try EverestRules.checkMutableParameters([:], diskType: type)
            #expect(change.isEmpty)
            #expect(change == PerformanceChange())
        }
    }

    @Test("GPSSD2: iops, throughput or both are read as at creation")
    func gpssd2() throws {
        #expect(try EverestRules.checkMutableParameters([Self.iops: "5000"], diskType: .gpssd2)
                == PerformanceChange(iops: 5000))
        #expect(try EverestRules.checkMutableParameters([Self.throughput: "250"], diskType: .gpssd2)
                == PerformanceChange(throughput: 250))
        #expect(try EverestRules.checkMutableParameters([Self.iops: "3000", Self.throughput: "125"], diskType: .gpssd2)
                == PerformanceChange(iops: 3000, throughput: 125))
    }

    /// (parameters, refusal): each names the key and, for a key that cannot change, the keys that can.
    static let refused: [([String: String], EverestRuleViolation)] = [
        ([EverestNames.diskVolumeType: "SSD"],
         .parameterFixedAtCreation(key: EverestNames.diskVolumeType, accepted: EverestNames.mutableParameterKeys)),
        ([EverestNames.passthrough: "true"],
         .parameterFixedAtCreation(key: EverestNames.passthrough, accepted: EverestNames.mutableParameterKeys)),
        ([EverestNames.cryptKeyID: "k"],
         .parameterFixedAtCreation(key: EverestNames.cryptKeyID, accepted: EverestNames.mutableParameterKeys)),
        ([EverestNames.diskShared: "true", iops: "4000"],
         .parameterFixedAtCreation(key: EverestNames.diskShared, accepted: EverestNames.mutableParameterKeys)),
        ([EverestNames.fsType: "xfs"],
         .parameterFixedAtCreation(key: EverestNames.fsType, accepted: EverestNames.mutableParameterKeys)),
        (["sanity-modify-volume-unsupported": "x"],
         .parameterNotMutable(key: "sanity-modify-volume-unsupported", accepted: EverestNames.mutableParameterKeys)),
        (["everest.io/disk-iops-typo": "1"],
         .parameterNotMutable(key: "everest.io/disk-iops-typo", accepted: EverestNames.mutableParameterKeys)),
        ([iops: "many"], .invalidParameter(key: EverestNames.diskIOPS, value: "many")),
        ([iops: "0"], .invalidParameter(key: EverestNames.diskIOPS, value: "0")),
        ([throughput: "-5"], .invalidParameter(key: EverestNames.diskThroughput, value: "-5")),
        ([throughput: "1.5"], .invalidParameter(key: EverestNames.diskThroughput, value: "1.5")),
    ]

    @Test("other keys and bad values are refused on a GPSSD2 disk", arguments: refused)
    func refusals(parameters: [String: String], expected: EverestRuleViolation) {
        #expect(Fixture.throwsViolation {
            _ = try EverestRules.checkMutableParameters(parameters, diskType: .gpssd2, disk: "d-1a2b")
        } == expected)
    }

    @Test("a key fixed at creation is R8 and its message names the key and the keys that can change")
    func fixedMessage() {
        let violation = Fixture.throwsViolation {
            _ = try EverestRules.checkMutableParameters([EverestNames.diskVolumeType: "ESSD"], diskType: .gpssd2)
        }
        #expect(violation?.rule == .r8)
        #expect(violation?.kind == .invalidRequest)
        #expect(violation?.message == "R8: everest.io/disk-volume-type cannot be modified: a disk's type, mode, encryption and sharing are fixed at creation; the parameters that can change are everest.io/disk-iops, everest.io/disk-throughput")
    }

    @Test("iops and throughput are refused on a disk type without provisioned performance",
          arguments: VolumeType.allCases.filter { !$0.requiresProvisionedPerformance })
    func notGPSSD2(type: VolumeType) {
        let violation = Fixture.throwsViolation {
            _ = try EverestRules.checkMutableParameters([Self.iops: "5000"], diskType: type, disk: "d-1a2b")
        }
        #expect(violation == .performanceNotProvisioned(type: type, disk: "d-1a2b"))
        #expect(violation?.message == "ATTR: disk type \(type) has no provisioned iops or throughput; everest.io/disk-iops and everest.io/disk-throughput apply to GPSSD2 disks only (disk d-1a2b)")
    }

    @Test("the key check comes before the type check: a fixed key on a SAS disk is R8")
    func keyBeforeType() {
        #expect(Fixture.throwsViolation {
            _ = try EverestRules.checkMutableParameters([EverestNames.diskVolumeType: "GPSSD2"], diskType: .sas)
        }?.rule == .r8)
    }

    @Test("checkPerformanceChange: a change needs GPSSD2; no change passes on any disk")
    func performanceChangeOnDisk() throws {
        let topology = Topology(region: "cn-north-4", zone: "cn-north-4a")
        let sas = Disk(id: "d-1", name: "a", capacityGiB: 1, type: .sas, topology: topology)
        let fast = Disk(id: "d-2", name: "b", capacityGiB: 1, type: .gpssd2, topology: topology, iops: 3000, throughput: 125)
        try EverestRules.checkPerformanceChange(PerformanceChange(), on: sas)
        try EverestRules.checkPerformanceChange(PerformanceChange(iops: 4000), on: fast)
        #expect(Fixture.throwsViolation { try EverestRules.checkPerformanceChange(PerformanceChange(iops: 4000), on: sas) }
                == .performanceNotProvisioned(type: .sas, disk: "d-1"))
        #expect(PerformanceChange(iops: 3000).isSatisfied(by: fast))
        #expect(PerformanceChange(iops: 3000, throughput: 125).isSatisfied(by: fast))
        #expect(!PerformanceChange(throughput: 126).isSatisfied(by: fast))
    }

    // MARK: CreateVolume's mutable_parameters through DiskAttributes

    static let gpssd2Parameters = [EverestNames.diskVolumeType: "GPSSD2", iops: "3000", throughput: "125"]

    @Test("CreateVolume: mutable parameters take precedence over parameters and annotations (CSI)")
    func createPrecedence() throws {
        let a = try DiskAttributes(parameters: Self.gpssd2Parameters, annotations: [Self.iops: "3500"],
                                   mutableParameters: [Self.iops: "6000"])
        #expect(a.iops == 6000 && a.throughput == 125)
        let b = try DiskAttributes(parameters: Self.gpssd2Parameters, mutableParameters: [Self.throughput: "300"])
        #expect(b.iops == 3000 && b.throughput == 300)
    }

    @Test("CreateVolume: a VolumeAttributesClass may supply GPSSD2's required iops and throughput")
    func createSuppliesRequired() throws {
        let a = try DiskAttributes(parameters: [EverestNames.diskVolumeType: "GPSSD2"],
                                   mutableParameters: [Self.iops: "3000", Self.throughput: "125"])
        #expect(a.type == .gpssd2 && a.iops == 3000 && a.throughput == 125)
        #expect(Fixture.throwsViolation {
            _ = try DiskAttributes(parameters: [EverestNames.diskVolumeType: "GPSSD2"], mutableParameters: [Self.iops: "3000"])
        } == .missingParameter(key: EverestNames.diskThroughput, type: .gpssd2))
    }

    @Test("a restore's stated performance: annotation over parameter, nil when unstated, values read as at creation")
    func statedPerformance() throws {
        #expect(try DiskAttributes.statedPerformance(parameters: [:]) == PerformanceChange())
        #expect(try DiskAttributes.statedPerformance(parameters: Self.gpssd2Parameters, annotations: [Self.iops: "4000"])
                == PerformanceChange(iops: 4000, throughput: 125))
        #expect(Fixture.throwsViolation {
            _ = try DiskAttributes.statedPerformance(parameters: [Self.throughput: "0"])
        } == .invalidParameter(key: EverestNames.diskThroughput, value: "0"))
    }

    @Test("CreateVolume: mutable parameters are checked against the type the parameters state")
    func createChecked() {
        #expect(Fixture.throwsViolation {
            _ = try DiskAttributes(parameters: [:], mutableParameters: [Self.iops: "3000"])
        } == .performanceNotProvisioned(type: .sas, disk: nil))
        #expect(Fixture.throwsViolation {
            _ = try DiskAttributes(parameters: Self.gpssd2Parameters, mutableParameters: [EverestNames.cryptKeyID: "k"])
        } == .parameterFixedAtCreation(key: EverestNames.cryptKeyID, accepted: EverestNames.mutableParameterKeys))
        #expect(Fixture.throwsViolation {
            _ = try DiskAttributes(parameters: Self.gpssd2Parameters, mutableParameters: [Self.iops: "x"])
        } == .invalidParameter(key: EverestNames.diskIOPS, value: "x"))
    }
}
