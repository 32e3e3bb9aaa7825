import Synchronization

/// When an attempt's request went out to the server: told by the transport, read by the engine.
///
/// The engine binds a fresh mark to ``current`` around each attempt's call. A network transport
/// calls ``markSent()`` when the request head is written to a connection, so the time a call
/// waits for a free pooled connection (or for a new connection to open) is not counted as the
/// attempt's: its recorded start, its duration and its `timeout:` all begin at the send.
///
/// Only the first mark counts (an http step's redirect hops belong to the same attempt). A
/// transport that never marks — the replay of a cassette, a canned transport — sends when it
/// is called: the engine then counts the attempt from the call.
public final class RequestSendMark: Sendable {
    /// The mark of the attempt the current task is making, if the engine bound one.
    @TaskLocal public static var current: RequestSendMark?

    private let created = ContinuousClock.now
    private let sent = Mutex<ContinuousClock.Instant?>(nil)

    public init() {}

    /// Records that the request is sent now; later calls change nothing.
    public func markSent() {
        let now = ContinuousClock.now
        sent.withLock { if $0 == nil { $0 = now } }
    }

    /// When the request was first sent; nil when it was never sent.
    public var sentAt: ContinuousClock.Instant? {
        sent.withLock { $0 }
    }

    /// How long after this mark was made the request was sent; nil when it was never sent.
    public var waitBeforeSending: Duration? {
        sent.withLock { $0.map { $0 - created } }
    }
}
