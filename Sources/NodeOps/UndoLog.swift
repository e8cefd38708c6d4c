// The undo log of a node operation (see the guarantees in NodeOperations.swift).

/// Inverse steps of an operation in progress, run backwards when it fails. Not shared between threads.
struct UndoLog {
    private var steps: [() -> Void] = []
    private var committed = false

    mutating func push(_ step: @escaping () -> Void) { steps.append(step) }
    mutating func commit() { committed = true }

    func runUnlessCommitted() {
        guard !committed else { return }
        for step in steps.reversed() { step() }
    }
}
