public import BridgekeeperAudit
public import BridgekeeperCore
public import Foundation
import Synchronization

/// One gateway's subscription to the broker's revocation feed (issue 7): an SSF stream with RFC 8936
/// poll delivery. Its position is a cursor into the audit log, which is the feed's only source.
public struct FeedStream: Sendable, Hashable {
    /// `fs_` and 128 random bits.
    public let id: String
    /// The gateway client that created it (and alone may read it).
    public let clientID: String
    public var description: String?
    /// What the receiver asked for (`events_requested`), as it asked.
    public var eventsRequested: [String]
    public let createdAt: Date
    /// Every feed event at or before this audit sequence is acknowledged (or refused) by the
    /// receiver: nothing at or before it is delivered again.
    public var acknowledgedThrough: Int64
    /// Feed events after `acknowledgedThrough` acknowledged out of order (not delivered again).
    public var acknowledgedBeyond: [Int64]

    public init(id: String, clientID: String, description: String?, eventsRequested: [String], createdAt: Date, acknowledgedThrough: Int64,
                acknowledgedBeyond: [Int64] = []) {
        self.id = id
        self.clientID = clientID
        self.description = description
        self.eventsRequested = eventsRequested
        self.createdAt = Date(timeIntervalSince1970: createdAt.timeIntervalSince1970.rounded(.down))
        self.acknowledgedThrough = acknowledgedThrough
        self.acknowledgedBeyond = acknowledgedBeyond
    }

    /// The stream after the receiver acknowledged `sequences` (pure; the store runs it inside the
    /// acknowledging transaction).
    ///
    /// `pending` are the sequences of the feed events after `acknowledgedThrough`, in order, read
    /// in the same transaction; `complete` says they are all of them, and `head` is the audit log's
    /// last sequence then. The cursor moves over every acknowledged event until the first one that
    /// is not; when none is left unacknowledged, it moves to the head, over the records that are
    /// not feed events. Acknowledgements of sequences that are not pending feed events change
    /// nothing (a receiver cannot move the cursor over an event it was never sent).
    public func acknowledging(_ sequences: Set<Int64>, pending: [Int64], complete: Bool, head: Int64) -> FeedStream {
        let pendingSet = Set(pending)
        var acknowledged = Set(acknowledgedBeyond).union(sequences.filter { pendingSet.contains($0) })
        var through = acknowledgedThrough
        var blocked = false
        for sequence in pending {
            if acknowledged.contains(sequence) {
                if !blocked { through = sequence }
            } else {
                blocked = true
            }
        }
        if !blocked && complete { through = max(through, head) }
        acknowledged = acknowledged.filter { $0 > through }
        var next = self
        next.acknowledgedThrough = through
        next.acknowledgedBeyond = acknowledged.sorted()
        return next
    }
}

/// A stream's acknowledgement of the feed up to an audit sequence: the evidence a receipt shows
/// ("which gateway confirmed, and when").
public struct FeedAcknowledgement: Sendable, Hashable {
    public let streamID: String
    public let clientID: String
    /// Every feed event at or before this sequence was acknowledged.
    public let through: Int64
    public let at: Date

    public init(streamID: String, clientID: String, through: Int64, at: Date) {
        self.streamID = streamID
        self.clientID = clientID
        self.through = through
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
    }
}

extension AuditRecord {
    /// Whether this record is one the revocation feed sends: a token revoked (a `revocation` with
    /// its `jti`), or a subject's tokens revoked (an offboarding or a session revocation). The
    /// stores' feed queries select exactly these.
    public var isFeedEvent: Bool {
        switch event.kind {
        case .revocation: return event.tokenID != nil
        case .administration: return AuditEvent.feedReasons.contains(event.reason) && event.issuer != nil && event.subject != nil
        default: return false
        }
    }
}

extension ReasonCode {
    /// A person was offboarded: disabled, their agents disabled, every token of theirs revoked (and
    /// their revocation epoch moved).
    public static let subjectOffboarded = ReasonCode("subject_offboarded")
    /// Every token of a person and their agents was revoked and their revocation epoch moved, without
    /// disabling them (`users revoke-sessions`, CAEP session-revoked, RISC credential change required).
    public static let sessionsRevoked = ReasonCode("sessions_revoked")
    /// A gateway created a revocation feed stream.
    public static let feedStreamCreated = ReasonCode("feed_stream_created")
    /// A gateway deleted its revocation feed stream.
    public static let feedStreamDeleted = ReasonCode("feed_stream_deleted")
    /// A gateway acknowledged revocation feed events (the audit sequence it confirmed through is in
    /// the record's `scopes` as `through:N`).
    public static let feedAcknowledged = ReasonCode("feed_acknowledged")
}

extension AuditEvent {
    /// The administration reasons that move a subject's revocation epoch.
    public static let feedReasons: Set<ReasonCode> = [.subjectOffboarded, .sessionsRevoked]
}

/// The revocation feed's streams and its reading of the audit log (issue 7).
public protocol RevocationFeedStore: Sendable {
    /// Rung after every commit that wrote a feed event.
    var feedBell: FeedBell { get }
    /// Writes a new stream with its audit record.
    func addFeedStream(_ stream: FeedStream, audit: AuditEvent) async throws
    func feedStream(id: String) async throws -> FeedStream?
    /// A client's streams, oldest first.
    func feedStreams(clientID: String) async throws -> [FeedStream]
    /// Deletes a stream (its acknowledgements stay: they are evidence); false when there was none.
    func removeFeedStream(id: String, audit: AuditEvent) async throws -> Bool
    /// Applies a receiver's acknowledgements in one transaction (`FeedStream.acknowledging`); when
    /// the cursor moved, an acknowledgement row and `audit(before, after)`'s records are written
    /// with it. With no `sequences` nothing is written (a long poll that acknowledges nothing costs
    /// a read). The stream as it now is, or nil when there is none.
    func acknowledgeFeed(streamID: String, sequences: Set<Int64>, at time: Date,
                         audit: @escaping @Sendable (FeedStream, FeedStream) -> [AuditEvent]) async throws -> FeedStream?
    /// Feed events (`isFeedEvent`) after `afterSequence`, in order, at most `limit`.
    func feedRecords(afterSequence: Int64, limit: Int) async throws -> [AuditRecord]
    /// Where a stream created now starts: just before the first feed event at or after `time`
    /// (the oldest revocation that can still matter), else at the audit log's head.
    func feedStart(notBefore time: Date) async throws -> Int64
    /// For each stream that has acknowledged through `sequence`, its first acknowledgement that did.
    func feedAcknowledgements(covering sequence: Int64) async throws -> [FeedAcknowledgement]
}

/// Rung by a store after it committed a feed event (`AuditRecord.isFeedEvent`): a long poll held
/// for the revocation feed wakes at once instead of at its next look at the store. Revocations
/// committed by another process (the CLI) are found by that look.
public final class FeedBell: Sendable {
    private struct State {
        var rings: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many times it has rung.
    public var rings: UInt64 { state.withLock { $0.rings } }

    public func ring() {
        let waiting = state.withLock { state in
            state.rings &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns once it rings after `seen` (at once if it already has), or after `timeout`.
    public func wait(after seen: UInt64, timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let registered: UInt64? = state.withLock { state in
                guard state.rings == seen else { return nil }
                state.nextWaiter &+= 1
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let registered else { return continuation.resume() }
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                self?.state.withLock { $0.waiters.removeValue(forKey: registered) }?.resume()
            }
        }
    }
}
