// The EVS backend's waiting: EVS and ECS jobs (GET /v1/{project_id}/jobs/{job_id}) and disk or snapshot status
// changes, polled within the call's deadline; the pause before a create is tried again after a transient failure.
import JSONCore
import EVSSnapshotRules

extension EVSCloudBackend {
    /// The job an answer names (`job_id`), waited for within the budget: while it still runs at the deadline the
    /// disk is busy (`operationInFlight`, the caller retries); a failed job is `unavailable` with its error code.
    func finishJob(_ service: CloudService, answer: JSON, disk: DiskID, budget: CallBudget,
                   operation: String) throws(BackendError) {
        guard let jobID = answer["job_id"].string else { throw .storage("\(operation): no job_id in the answer") }
        let job = try waitForJob(service, jobID, budget: budget, operation: operation,
                                 pending: { () throws(BackendError) in .rule(.operationInFlight(key: disk.rawValue)) })
        guard job.succeeded else {
            throw .unavailable("\(operation): job \(jobID) failed: \(job.errorCode) \(job.failReason)".trimmingSpaces)
        }
    }

    /// Polls a job until it finishes; when the deadline comes first, throws `pending()` (the caller's retry finds
    /// the object by its tag and continues to wait).
    func waitForJob(_ service: CloudService, _ jobID: String, budget: CallBudget, operation: String,
                    pending: () throws(BackendError) -> BackendError) throws(BackendError) -> EVSJob {
        while true {
            let job: EVSJob
            do {
                job = EVSJob(json: try client.call(service, "GET", "/v1/\(project)/jobs/\(jobID)",
                                                   operation: "\(operation): job \(jobID)", budget: budget))
            } catch where isDeadline(error) {
                throw try pending()
            } catch {
                throw map(error, kind: "job", id: jobID)
            }
            if job.isFinished { return job }
            do {
                try client.pause(budget: budget, operation: operation, last: "job \(jobID) \(job.status)")
            } catch {
                throw try pending()
            }
        }
    }

    /// Polls the snapshot while `condition` holds; nil when it is gone. At the deadline it returns the snapshot
    /// as it is (the caller's rule check then refuses it).
    func waitWhile(snapshot id: String, budget: CallBudget, _ condition: (EVSSnapshot) -> Bool) throws(BackendError) -> EVSSnapshot? {
        var last: EVSSnapshot?
        while true {
            let read: EVSSnapshot?
            do {
                read = try findRawSnapshot(id, budget: budget)
            } catch {
                // The deadline came during a poll's request: the snapshot as last seen, as when it comes between
                // two polls (before, a slow answer turned R11's refusal into DEADLINE_EXCEEDED).
                if case .deadlineExceeded = error, let last { return last }
                throw error
            }
            guard let current = read else { return nil }
            last = current
            if !condition(current) { return current }
            do {
                try client.pause(budget: budget, operation: "snapshot \(id)", last: current.statusText)
            } catch {
                return current
            }
        }
    }

    /// Polls the volume while `condition` holds; nil when it is gone. Throws operationInFlight at the deadline.
    func waitWhile(volume id: String, budget: CallBudget, operation: String,
                   _ condition: (EVSVolume) -> Bool) throws(BackendError) -> EVSVolume? {
        while true {
            guard let current = try volume(id, budget: budget) else { return nil }
            if !condition(current) { return current }
            do {
                try client.pause(budget: budget, operation: operation, last: "disk \(id) \(current.statusText)")
            } catch {
                throw .rule(.operationInFlight(key: id))
            }
        }
    }

    func pauseAfterFailure(attempt: Int, budget: CallBudget, error: CloudAPIError) throws(BackendError) {
        var delay = client.configuration.initialBackoff
        for _ in 0..<min(attempt, 16) { delay = min(delay * 2, client.configuration.maxBackoff) }
        if delay >= budget.remaining { throw .deadlineExceeded("\(error) (no time left to try again)") }
        sleepFor(delay)
    }

    func isDeadline(_ error: CloudAPIError) -> Bool { if case .deadline = error { true } else { false } }
}
