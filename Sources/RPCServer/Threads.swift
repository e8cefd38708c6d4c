// Plain pthreads: the completion-queue threads and the handler threads block (in the core, or in a
// handler doing file I/O), so none of them may run on Swift's cooperative pool.
internal import CGRPCCore
import Glibc

/// A pthread mutex plus condition variable (CLOCK_MONOTONIC), both at stable heap addresses.
final class ConditionLock: @unchecked Sendable {  // Sendable: the pthread objects are the synchronisation.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>  // owned
    private let condition: UnsafeMutablePointer<pthread_cond_t>  // owned

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func signal() { pthread_cond_signal(condition) }
    func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits (lock held) until signalled.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (lock held) until signalled or `deadline` (CLOCK_MONOTONIC) passes; false on timeout.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// CLOCK_MONOTONIC now plus `duration`, saturating.
func monotonicDeadline(after duration: Duration) -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let (seconds, attoseconds) = duration.components
    let addSeconds = max(0, min(seconds, 1 << 40))
    let addNanos = seconds < 0 ? 0 : Int(attoseconds / 1_000_000_000)
    var result = timespec(tv_sec: now.tv_sec + Int(addSeconds), tv_nsec: now.tv_nsec + addNanos)
    if result.tv_nsec >= 1_000_000_000 {
        result.tv_sec += 1
        result.tv_nsec -= 1_000_000_000
    }
    return result
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a pthread named `name` (at most 15 bytes are kept) running `body`; joinable unless `detached`.
@discardableResult
func spawnThread(name: String, detached: Bool = false, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    let shortName = String(name.utf8.prefix(15))!
    let context = Unmanaged.passRetained(ThreadBody {
        cgrpc_set_current_thread_name(shortName)
        body()
    }).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    if detached { pthread_detach(thread) }
    return thread
}

/// A fixed number of threads running submitted jobs in FIFO order. At most `maxQueued` jobs wait for a thread;
/// `submit` refuses more, so a flood of calls costs a refusal each instead of memory.
final class HandlerPool: @unchecked Sendable {  // Sendable: `jobs`, `head`, `stopping` guarded by `lock`.
    /// Jobs that may wait for a free thread (running jobs not counted).
    let maxQueued: Int
    /// The number of threads.
    let threadCount: Int
    private let lock = ConditionLock()
    /// Guarded by `lock`. Jobs before `head` have been taken.
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopping = false
    private var idle = 0
    /// Written by `init` only, read by `stop`.
    private var threads: [pthread_t] = []

    init(threads count: Int, maxQueued: Int = .max, name: String) {
        precondition(count > 0, "handler pool needs at least one thread")
        precondition(maxQueued >= 0, "maxQueued must be >= 0")
        self.maxQueued = maxQueued
        threadCount = count
        threads = (0..<count).map { index in
            spawnThread(name: "\(name)\(index)") { [self] in self.work() }
        }
    }

    /// Queues a job and wakes one idle thread for it; false (the job dropped, never run) when `maxQueued` jobs
    /// are already waiting.
    func submit(_ job: @escaping () -> Void) -> Bool {
        lock.lock()
        precondition(!stopping, "job submitted to a stopped handler pool")
        if jobs.count - head >= maxQueued {
            lock.unlock()
            return false
        }
        jobs.append(job)
        let wake = idle > 0
        lock.unlock()
        if wake { lock.signal() }
        return true
    }

    /// Jobs waiting for a thread now.
    var queued: Int { lock.withLock { jobs.count - head } }

    /// Runs the queued jobs to the end, then joins every thread. Safe to call twice.
    func stop() {
        lock.withLock { stopping = true }
        lock.broadcast()
        let toJoin = lock.withLock { () -> [pthread_t] in
            defer { threads = [] }
            return threads
        }
        for thread in toJoin { pthread_join(thread, nil) }
    }

    private func work() {
        while let job = next() { job() }
    }

    private func next() -> (() -> Void)? {
        lock.lock()
        defer { lock.unlock() }
        while head == jobs.count {
            if stopping { return nil }
            idle += 1
            lock.wait()
            idle -= 1
        }
        let job = jobs[head]
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }
}

/// Counts what is outstanding in the core (tags handed to C and calls still alive) so that shutdown
/// can wait for it to reach zero before destroying the server and the completion queue.
final class ActivityCounter: @unchecked Sendable {  // Sendable: `count` and `closed` guarded by `lock`.
    private let lock = ConditionLock()
    private var count = 0
    private var closed = false

    /// Counts one more outstanding thing.
    func enter() {
        lock.withLock { count += 1 }
    }

    /// Counts one more, unless `close()` has been called; then returns false.
    func enterUnlessClosed() -> Bool {
        lock.withLock {
            if closed { return false }
            count += 1
            return true
        }
    }

    /// Refuses later `enterUnlessClosed` calls.
    func close() {
        lock.withLock { closed = true }
    }

    /// One outstanding thing is done; wakes the waiter at zero.
    func leave() {
        let zero = lock.withLock { () -> Bool in
            count -= 1
            precondition(count >= 0, "activity count below zero")
            return count == 0
        }
        if zero { lock.broadcast() }
    }

    /// Waits until the count is zero, at most `timeout` (nil: forever). True if it reached zero.
    func waitUntilZero(timeout: Duration?) -> Bool {
        let deadline = timeout.map(monotonicDeadline(after:))
        lock.lock()
        defer { lock.unlock() }
        while count > 0 {
            if let deadline {
                if !lock.wait(until: deadline) { return count == 0 }
            } else {
                lock.wait()
            }
        }
        return true
    }
}
