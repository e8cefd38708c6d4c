// The deadline of the CSI call being served, for backends that wait on a remote service (the EVS cloud backend
// polls jobs and retries within it). The driver's endpoint binds it around each handler; nil means no deadline.

/// The deadline of the call the current thread serves.
public enum CallDeadline {
    /// Bound by the driver around each handler (a task-local, which also works on plain threads).
    @TaskLocal public static var current: ContinuousClock.Instant?
}
