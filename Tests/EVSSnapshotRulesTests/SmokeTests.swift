import Testing
@testable import EVSSnapshotRules

@Test("R12: 10Gi is 10 GiB")
func smokeQuantity() throws {
    #expect(try EverestRules.capacityGiB(fromQuantity: "10Gi") == 10)
}
