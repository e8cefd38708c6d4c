// Attachments: attach a disk to a node, detach it, list where it is attached.
import EVSSnapshotRules
import Foundation
import GRDB
import Glibc

extension EVSEmulator {
    // MARK: Attachments

    public func attach(disk id: DiskID, node: String) throws(BackendError) -> DiskAttachment {
        let path = diskImagePath(id)
        return try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            switch disk.status {
            case .available, .inUse: break
            case .error: throw BackendError.busy("disk \(id) is in status error and cannot be attached")
            default: throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            }
            let nodes = try MetadataStore.attachedNodes(of: id, in: db)
            if nodes.contains(node) { return DiskAttachment(diskID: id, nodeID: node, devicePath: path) }
            if !nodes.isEmpty && !disk.shared {
                throw BackendError.busy("disk \(id) is not shared and is attached to node \(nodes[0])")
            }
            let count = try MetadataStore.attachmentCount(node: node, in: db)
            if count >= self.configuration.maxAttachmentsPerNode {
                throw BackendError.limitExceeded(
                    "node \(node) has \(count) disks attached, the limit is \(self.configuration.maxAttachmentsPerNode)")
            }
            try MetadataStore.insertAttachment(disk: id, node: node, in: db)
            try MetadataStore.setStatus(.inUse, disk: id, in: db)
            return DiskAttachment(diskID: id, nodeID: node, devicePath: path)
        }
    }

    public func detach(disk id: DiskID, node: String?) throws(BackendError) {
        try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            try MetadataStore.deleteAttachments(disk: id, node: node, in: db)
            if disk.status == .inUse, try MetadataStore.attachedNodes(of: id, in: db).isEmpty {
                try MetadataStore.setStatus(.available, disk: id, in: db)
            }
        }
    }

    public func attachments(of id: DiskID) throws(BackendError) -> [DiskAttachment] {
        let path = diskImagePath(id)
        return try read { db in
            try MetadataStore.attachedNodes(of: id, in: db).map { DiskAttachment(diskID: id, nodeID: $0, devicePath: path) }
        }
    }
}
