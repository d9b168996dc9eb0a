import Synchronization

/// Lets the checkpointer briefly hold new reads back: under constant load some reader always holds
/// a WAL snapshot, so SQLite can never reset the WAL and it grows without bound (SQLite calls this
/// checkpoint starvation). Every read passes this gate; a RESTART checkpoint closes it, waits for
/// the reads in flight (single statements, microseconds), runs, and opens it again.
final class ReadGate: Sendable {
    private struct State {
        var active = 0
        var closed = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var drained: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func enter() async {
        let admitted = state.withLock { state in
            guard !state.closed else { return false }
            state.active += 1
            return true
        }
        if admitted { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                guard state.closed else {
                    state.active += 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func leave() {
        let drained = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.active -= 1
            guard state.closed, state.active == 0 else { return nil }
            defer { state.drained = nil }
            return state.drained
        }
        drained?.resume()
    }

    /// Closes the gate and returns once no read is in flight.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                state.closed = true
                if state.active == 0 { return true }
                state.drained = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    func open() {
        let waiting = state.withLock { state in
            state.closed = false
            state.active += state.waiting.count
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
