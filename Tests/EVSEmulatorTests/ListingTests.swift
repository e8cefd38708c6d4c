import Dispatch
import EVSSnapshotRules
import Foundation
import Synchronization
import Testing
@testable import EVSEmulator

/// Follows `nextToken` until the end; returns every page.
private func allPages<T>(_ fetch: (String?) throws -> BackendPage<T>) throws -> [[T]] {
    var pages: [[T]] = []
    var token: String? = nil
    repeat {
        let page = try fetch(token)
        pages.append(page.items)
        token = page.nextToken
    } while token != nil && pages.count < 10_000
    return pages
}

@Suite("Listings: pagination, filters, tokens, scale, concurrency")
struct ListingTests {
    @Test("pagination with 1, 2 and many entries returns each entry once, in creation order",
          arguments: [(1, 1), (1, 5), (2, 1), (2, 2), (2, 0), (25, 7), (25, 25), (25, 0)])
    func pagination(count: Int, pageSize: Int) throws {
        try withEmulator(quota: 100) { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d", spec: DiskSpec(capacityGiB: 1), source: nil)
            var made: [SnapshotID] = []
            for index in 0..<count { made.append(try emulator.createSnapshot(name: "s\(index)", sourceDisk: disk.id).id) }
            let pages = try allPages { token in
                try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: pageSize, startingToken: token)
            }
            #expect(pages.flatMap { $0 }.map(\.id) == made)
            let expectedPages = pageSize == 0 ? 1 : (count + pageSize - 1) / pageSize
            #expect(pages.count == expectedPages)
            #expect(pages.dropLast().allSatisfy { $0.count == pageSize })
        }
    }

    @Test("disk listing pages the same way")
    func diskPagination() throws {
        try withEmulator { (emulator, _) throws in
            var made: [DiskID] = []
            for index in 0..<5 { made.append(try emulator.createDisk(name: "d\(index)", spec: DiskSpec(capacityGiB: 1), source: nil).id) }
            let pages = try allPages { try emulator.listDisks(maxEntries: 2, startingToken: $0) }
            #expect(pages.map(\.count) == [2, 2, 1])
            #expect(pages.flatMap { $0 }.map(\.id) == made)
            #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).nextToken == nil)
        }
    }

    @Test("a token not issued by the emulator is invalidToken (driver: ABORTED)",
          arguments: ["garbage", "evs1-", "evs1-abc", "evs1-0", "evs1--4", "1", "evs2-3"])
    func invalidToken(token: String) throws {
        try withEmulator { (emulator, _) throws in
            let snapshotsError = backendError {
                _ = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 1, startingToken: token)
            }
            #expect(snapshotsError == .invalidToken(token))
            #expect(backendError { _ = try emulator.listDisks(maxEntries: 1, startingToken: token) } == .invalidToken(token))
        }
    }

    @Test("filters: by snapshot id, by source disk, unknown ids give empty pages")
    func filters() throws {
        try withEmulator { (emulator, _) throws in
            let d1 = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let d2 = try emulator.createDisk(name: "d2", spec: DiskSpec(capacityGiB: 1), source: nil)
            let a = try emulator.createSnapshot(name: "a", sourceDisk: d1.id)
            let b = try emulator.createSnapshot(name: "b", sourceDisk: d2.id)
            let c = try emulator.createSnapshot(name: "c", sourceDisk: d1.id)
            func ids(_ id: SnapshotID?, _ disk: DiskID?) throws -> [SnapshotID] {
                try emulator.listSnapshots(snapshotID: id, sourceDiskID: disk, maxEntries: 0, startingToken: nil).items.map(\.id)
            }
            #expect(try ids(nil, d1.id) == [a.id, c.id])
            #expect(try ids(b.id, nil) == [b.id])
            #expect(try ids(b.id, d1.id) == [])
            #expect(try ids(SnapshotID("nope"), nil) == [])
            #expect(try ids(nil, DiskID("nope")) == [])
            let page = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: d1.id, maxEntries: 1, startingToken: nil)
            #expect(page.items.map(\.id) == [a.id])
            #expect(try emulator.listSnapshots(snapshotID: nil, sourceDiskID: d1.id, maxEntries: 1,
                                               startingToken: page.nextToken).items.map(\.id) == [c.id])
        }
    }

    @Test("changes during a listing: deleted entries vanish, new ones appear at the end, nothing repeats")
    func listingUnderChange() throws {
        try withEmulator(quota: 100) { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d", spec: DiskSpec(capacityGiB: 1), source: nil)
            var made: [Snapshot] = []
            for index in 0..<10 { made.append(try emulator.createSnapshot(name: "s\(index)", sourceDisk: disk.id)) }
            let first = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 4, startingToken: nil)
            try emulator.deleteSnapshot(made[3].id)   // the last one seen
            try emulator.deleteSnapshot(made[6].id)   // one not yet seen
            let late = try emulator.createSnapshot(name: "late", sourceDisk: disk.id)
            let rest = try allPages { token in
                try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 4, startingToken: token ?? first.nextToken)
            }.flatMap { $0 }
            #expect(first.items.map(\.id) == made[0..<4].map(\.id))
            #expect(rest.map(\.id) == [made[4], made[5], made[7], made[8], made[9], late].map(\.id))
        }
    }

    @Test("10,000 snapshots stored: listing a page and creating stay fast; query plans use indexes")
    func scale() throws {
        try withEmulator(quota: 20_000) { (emulator, _) throws in
            var disks: [Disk] = []
            for index in 0..<10 { disks.append(try emulator.createDisk(name: "d\(index)", spec: DiskSpec(capacityGiB: 1), source: nil)) }
            func timed(_ body: () throws -> Void) rethrows -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            // Baseline with 10 snapshots.
            for index in 0..<10 { _ = try emulator.createSnapshot(name: "small-\(index)", sourceDisk: disks[index].id) }
            let smallList = try timed { _ = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: disks[0].id, maxEntries: 100, startingToken: nil) }
            for disk in disks { try emulator.seedSnapshotRows(count: 999, of: disk) }
            #expect(try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items.count == 10_000)
            var middle: String?
            let bigList = try timed {
                let page = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: disks[5].id, maxEntries: 100, startingToken: nil)
                #expect(page.items.count == 100)
                middle = page.nextToken
            }
            let middleList = try timed { () throws in
                #expect(try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 100, startingToken: middle).items.count == 100)
            }
            let create = try timed { _ = try emulator.createSnapshot(name: "after-10k", sourceDisk: disks[9].id) }
            print("scale: list page 10 stored \(smallList * 1000) ms, 10k stored \(bigList * 1000) ms, from token \(middleList * 1000) ms; create \(create * 1000) ms")
            // Generous bounds for a shared 2-core debug build; the plans below are the real guarantee.
            #expect(bigList < 0.5 && middleList < 0.5 && create < 2)

            let plans = [
                try emulator.snapshotListingPlan(snapshotID: nil, sourceDiskID: nil, afterSeq: 5000, limit: 100),
                try emulator.snapshotListingPlan(snapshotID: nil, sourceDiskID: disks[1].id, afterSeq: 5000, limit: 100),
                try emulator.snapshotListingPlan(snapshotID: SnapshotID("x"), sourceDiskID: nil, afterSeq: 0, limit: 100),
                try emulator.queryPlan("SELECT COUNT(*) FROM snapshot WHERE sourceDiskID = ?", arguments: ["x"]),   // R5
                try emulator.queryPlan("SELECT * FROM snapshot WHERE name = ?", arguments: ["x"]),                  // idempotency
                try emulator.queryPlan("SELECT name FROM disk WHERE sourceSnapshotID = ? AND status = 'creating'", arguments: ["x"]), // R11
            ]
            for plan in plans {
                #expect(!plan.isEmpty && plan.allSatisfy { $0.hasPrefix("SEARCH") }, "plan \(plan)")
            }
            #expect(plans[1].joined().contains("snapshot_by_source"))
            #expect(plans[3].joined().contains("snapshot_by_source"))
        }
    }

    @Test("concurrent creates and deletes from many threads stay consistent")
    func concurrency() throws {
        try withEmulator(quota: 100) { (emulator, _) throws in
            let errors = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 16) { index in
                do {
                    let disk = try emulator.createDisk(name: "disk-\(index)", spec: DiskSpec(capacityGiB: 1), source: nil)
                    for round in 0..<3 {
                        let snapshot = try emulator.createSnapshot(name: "snap-\(index)-\(round)", sourceDisk: disk.id)
                        if round == 1 { try emulator.deleteSnapshot(snapshot.id) }
                    }
                    _ = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 5, startingToken: nil)
                } catch {
                    errors.withLock { $0.append("\(index): \(error)") }
                }
            }
            #expect(errors.withLock { $0 }.isEmpty)
            #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.count == 16)
            let snapshots = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items
            #expect(snapshots.count == 32)
            #expect(Set(snapshots.map(\.name)).count == 32)
        }
    }

    @Test("the same name created from many threads at once yields one disk; losers are told it is in flight")
    func sameNameRace() throws {
        try withEmulator { (emulator, _) throws in
            let outcomes = Mutex<[Result<DiskID, BackendError>]>([])
            DispatchQueue.concurrentPerform(iterations: 12) { _ in
                let outcome: Result<DiskID, BackendError>
                do {
                    outcome = .success(try emulator.createDisk(name: "same", spec: DiskSpec(capacityGiB: 1), source: nil).id)
                } catch let error as BackendError {
                    outcome = .failure(error)
                } catch {
                    outcome = .failure(.storage("unexpected \(error)"))
                }
                outcomes.withLock { $0.append(outcome) }
            }
            let all = outcomes.withLock { $0 }
            let ids = Set(all.compactMap { try? $0.get() })
            #expect(ids.count == 1)
            for case .failure(let error) in all { #expect(error == .rule(.operationInFlight(key: "same"))) }
            #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.map(\.id) == Array(ids))
        }
    }
}
