// The EVS backend's one mapping from cloud answers (CloudAPIError) to the backend's error vocabulary
// (BackendError); CSIDriver/StatusMapping.swift maps that to gRPC codes.
import EVSSnapshotRules

extension EVSCloudBackend {
    /// EVS/ECS answers → the backend's vocabulary; StatusMapping maps that to gRPC codes.
    func map(_ error: CloudAPIError, kind: String, id: String) -> BackendError {
        switch error {
        case .deadline: return .deadlineExceeded(error.description)
        case .authentication: return .permissionDenied(error.description)
        case .transport, .malformed: return .unavailable(error.description)
        case .api(_, let status, let code, _):
            if error.isNotFound { return .notFound(kind: kind, id: id) }
            if status == 429 || status >= 500 { return .unavailable(error.description) }
            if status == 403 { return .permissionDenied(error.description) }
            // Quota: EVS.1034 (disk count), EVS.1042 (gigabytes), both 400; 413 EVS.5413 "Insufficient volume quota";
            // ECS's attach limit Ecs.0104. RESOURCE_EXHAUSTED through StatusMapping.
            if status == 413 || ["EVS.1034", "EVS.1042", "EVS.5413"].contains(code) || code.hasSuffix(".0104") {
                return .limitExceeded(error.description)
            }
            // Ecs.0103: the disk is not available to attach (in use elsewhere, or changing state).
            if code == "Ecs.0103" { return .busy(error.description) }
            if status == 409 { return .busy(error.description) }
            return .invalid(error.description)
        }
    }
}
