import Foundation
import Logging
import PostgresNIO
import Synchronization
import WfloCore

/// ``JournalNotifications`` over LISTEN/NOTIFY: one connection per store listens on the journal's
/// channel and wakes the waiters a notification names. ``PostgresJournalStore`` sends the
/// notification (`pg_notify`) in the transaction that records a decision or a cancel request, so
/// it is delivered when that commits, to every process listening.
///
/// The journal stays the truth: a waiter that wakes reads it. While the listening connection is
/// down (the server restarted, the network dropped) waits last at most `pollInterval` and the
/// listener reconnects; when it is back every waiter is woken once to look again (a notification
/// sent in between was lost). A decision or cancel notification that arrives just before its
/// waiter starts waiting (between the waiter's read and its wait) makes that wait return at once;
/// announced work is counted instead, so a worker's wait returns at once only for work announced
/// after its look began (``workMark()``), and an idle worker does not look again and again.
final class PostgresNotifications: JournalNotifications, Sendable {
    /// What a notification says happened.
    enum Subject: Sendable {
        case approval(requestID: String)
        case cancel(runID: String)
        /// A queued run may have become claimable (submitted, given back); a decided approval says so too.
        case work

        var payload: String {
            switch self {
            case .approval(let id): "approval:" + id
            case .cancel(let runID): "cancel:" + runID
            case .work: "work"
            }
        }

        /// The payloads a notification wakes: its own, and ``work`` for a decision (the run it
        /// gated may be claimable now).
        static func woken(by payload: String) -> [String] {
            payload.hasPrefix("approval:") ? [payload, Subject.work.payload] : [payload]
        }
    }

    let channel: String
    let pollInterval: Double
    /// The longest wait while listening: a notification lost some other way costs at most this.
    let listeningCap: Double = 30
    /// How long a notification counts as "just arrived" for a waiter that starts after it.
    let recentWindow: Duration = .milliseconds(500)
    private let connector: Connector
    private let logger: Logger

    private struct Waiter {
        let payload: String
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var recent: [String: ContinuousClock.Instant] = [:]
        /// Work announcements so far (and listener restarts, when some may have been lost).
        var workCount: UInt64 = 0
        var listening = false
        var stopped = false
        var task: Task<Void, Never>?
        var connection: PostgresConnection?
    }

    private let state = Mutex(State())

    init(connector: Connector, channel: String, pollInterval: Double, logger: Logger) {
        self.connector = connector
        self.channel = channel
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Whether the listening connection is up (waits then last until a notification or the deadline).
    var isListening: Bool { state.withLock { $0.listening } }

    /// Sends `subject` on `channel` when `connection`'s transaction commits.
    static func notify(_ connection: PostgresConnection, channel: String, _ subject: Subject, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(channel), \(subject.payload))", logger: logger)
    }

    // MARK: - JournalNotifications

    func waitForDecision(requestID: String, runID: String, until deadline: Date?) async throws {
        try await wait(for: Subject.approval(requestID: requestID).payload, until: deadline)
    }

    func waitForCancel(runID: String, until deadline: Date?) async throws {
        try await wait(for: Subject.cancel(runID: runID).payload, until: deadline)
    }

    func workMark() -> UInt64 { state.withLock { $0.workCount } }

    func waitForWork(since mark: UInt64, until deadline: Date) async throws {
        try Task.checkCancellation()
        let listening = state.withLock { $0.listening }
        let seconds = max(0, min(listening ? listeningCap : pollInterval, deadline.timeIntervalSinceNow))
        if seconds == 0 { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Task.sleep(for: .seconds(seconds)) }
            group.addTask { try await self.signal(Subject.work.payload, unlessWorkSince: mark) }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }

    private func wait(for payload: String, until deadline: Date?) async throws {
        try Task.checkCancellation()
        let (listening, justArrived) = state.withLock { state in
            (state.listening, state.recent[payload].map { $0.duration(to: .now) < recentWindow } ?? false)
        }
        if justArrived { return }
        var seconds = listening ? listeningCap : pollInterval
        if let deadline { seconds = max(0, min(seconds, deadline.timeIntervalSinceNow)) }
        if seconds == 0 { return }
        let wait = seconds
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Task.sleep(for: .seconds(wait)) }
            group.addTask { try await self.signal(payload) }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }

    /// Returns when a notification with `payload` arrives, or the listener drops or stops; at once
    /// when work was announced after `workMark` (checked under the same lock as the waiter's registration).
    private func signal(_ payload: String, unlessWorkSince workMark: UInt64? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.stopped { return .success(()) }
                    if let workMark, state.workCount != workMark { return .success(()) }
                    state.waiters[id] = Waiter(payload: payload, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func deliver(_ payload: String) {
        let now = ContinuousClock.now
        let payloads = Subject.woken(by: payload)
        let woken = state.withLock { state -> [Waiter] in
            // Work is counted (``workMark()``); decisions and cancels are kept as "just arrived".
            for payload in payloads where payload != Subject.work.payload { state.recent[payload] = now }
            if payloads.contains(Subject.work.payload) { state.workCount &+= 1 }
            if state.recent.count > 1_000 { state.recent = state.recent.filter { $0.value.duration(to: now) < recentWindow } }
            let matching = state.waiters.filter { payloads.contains($0.value.payload) }
            for id in matching.keys { state.waiters.removeValue(forKey: id) }
            return Array(matching.values)
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Wakes every waiter (to look at the journal again).
    private func wakeAll() {
        let woken = state.withLock { state -> [Waiter] in
            // Work may have been announced unheard.
            state.workCount &+= 1
            let all = Array(state.waiters.values)
            state.waiters.removeAll()
            return all
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    // MARK: - The listening connection

    func start() {
        let task = Task { await self.listen() }
        state.withLock { $0.task = task }
    }

    func stop() {
        let (task, connection) = state.withLock { state -> (Task<Void, Never>?, PostgresConnection?) in
            state.stopped = true
            state.listening = false
            return (state.task, state.connection)
        }
        // Outside the lock: cancelling runs cancellation handlers on this thread.
        task?.cancel()
        if let connection { Task { try? await connection.close() } }
        wakeAll()
    }

    /// Returns when the listening task has ended (after ``stop()``).
    func stopped() async {
        await state.withLock { $0.task }?.value
    }

    private func listen() async {
        var failures = 0
        while !Task.isCancelled, !state.withLock({ $0.stopped }) {
            do {
                let connection = try await connector.connect()
                let keep = state.withLock { state -> Bool in
                    if state.stopped { return false }
                    state.connection = connection
                    return true
                }
                guard keep else {
                    try? await connection.close()
                    return
                }
                defer { state.withLock { $0.connection = nil } }
                do {
                    try await connection.listen(on: channel) { notifications in
                        state.withLock { $0.listening = true }
                        failures = 0
                        // Anything sent while nobody listened is lost: every waiter looks again.
                        wakeAll()
                        for try await notification in notifications { deliver(notification.payload) }
                    }
                } catch {
                    logger.debug("wflo: the journal's listening connection dropped: \(PostgresErrors.describe(error))")
                }
                try? await connection.close()
            } catch {
                logger.debug("wflo: cannot open the journal's listening connection: \(PostgresErrors.describe(error))")
            }
            state.withLock { $0.listening = false }
            wakeAll()
            failures += 1
            try? await Task.sleep(for: .seconds(min(pollInterval, 0.05 * Double(1 << min(failures, 6)))))
        }
    }
}
