import Dispatch
import Foundation
import Synchronization

/// A task executor with one thread of its own, for the group-commit writer: its continuations
/// resume here instead of queueing behind request handling on the shared executor, so the time a
/// batch holds SQLite's write lock is the time SQLite needs, not the time spent waiting for a turn.
final class WriterExecutor: TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in
            raiseThreadPriority()
            loop()
        }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        state.withLock { $0.jobs.append(job) }
        wakeup.signal()
    }

    /// Ends the thread once the queued jobs ran.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeup.signal()
    }

    private func loop() {
        while true {
            wakeup.wait()
            let (jobs, stopped) = state.withLock { state in
                defer { state.jobs.removeAll(keepingCapacity: true) }
                return (state.jobs, state.stopped)
            }
            for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
            if stopped { return }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Asks the scheduler to run the calling thread ahead of request handling (nice -10): the writer's
/// path is the one every waiting request shares. On Linux `who` 0 is the calling thread alone.
/// Needs CAP_SYS_NICE; without it, nothing changes.
@discardableResult
func raiseThreadPriority() -> Bool {
    #if os(Linux)
    return setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, -10) == 0
    #else
    return false
    #endif
}
