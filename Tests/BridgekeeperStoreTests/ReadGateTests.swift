@testable import BridgekeeperStoreSQLite
import Synchronization
import Testing

/// The gate the WAL checkpointer closes to end checkpoint starvation: closing waits for the reads in
/// flight, reads that arrive while it is closed wait, and opening lets them all through.
final class Log: Sendable {
    let entries = Mutex<[String]>([])
}

@Suite("read gate")
struct ReadGateTests {
    @Test("close waits for reads in flight; reads arriving while closed wait until it opens")
    func closeAndOpen() async throws {
        let gate = ReadGate()
        let log = Log()
        await gate.enter()  // a read in flight
        let closing = Task {
            await gate.close()
            log.entries.withLock { $0.append("closed") }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.entries.withLock { $0 }.isEmpty, "close returned while a read was in flight")
        gate.leave()
        await closing.value
        #expect(log.entries.withLock { $0 } == ["closed"])

        let late = Task {
            await gate.enter()
            log.entries.withLock { $0.append("read") }
            gate.leave()
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.entries.withLock { $0 } == ["closed"], "a read passed a closed gate")
        gate.open()
        await late.value
        #expect(log.entries.withLock { $0 } == ["closed", "read"])

        // Open again: reads pass at once, and a close with nothing in flight returns at once.
        await gate.enter()
        gate.leave()
        await gate.close()
        gate.open()
    }
}
