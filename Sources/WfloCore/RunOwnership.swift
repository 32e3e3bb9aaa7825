import Foundation

/// The process driving a run. One process at a time may drive a run, so that a `wflo resume`
/// typed while the original `wflo run` is still alive (waiting for an approval, say) cannot run
/// and charge the same steps a second time.
public struct RunOwner: Sendable, Hashable, Codable, CustomStringConvertible {
    public var pid: Int32
    public var host: String
    /// Unique per claim: tells this claim from a later one by the same process.
    public var token: String

    public init(pid: Int32, host: String, token: String) {
        self.pid = pid
        self.host = host
        self.token = token
    }

    /// This process, with a fresh token.
    public static func current() -> RunOwner {
        RunOwner(pid: ProcessInfo.processInfo.processIdentifier, host: ProcessInfo.processInfo.hostName,
                 token: UUID().uuidString.lowercased())
    }

    public var description: String { "process \(pid) on \(host)" }
}

public enum RunClaim: Sendable, Hashable {
    case claimed
    /// Another owner holds the run; nothing was written.
    case heldBy(RunOwner, heartbeatAt: Date)
}

/// The process that holds a run, as the journal last saw it.
public struct RunDriver: Sendable, Hashable {
    public var owner: RunOwner
    public var heartbeatAt: Date

    public init(owner: RunOwner, heartbeatAt: Date) {
        self.owner = owner
        self.heartbeatAt = heartbeatAt
    }

    /// A heartbeat older than this means a driver on another machine is gone.
    public static let staleAfter: Double = 30

    /// The one rule for "is the process driving this run gone": on this machine (`localHost`),
    /// when its process no longer exists (a kill -9 is seen at once); elsewhere, when its
    /// heartbeat is older than ``staleAfter``.
    public func isGone(now: Date, localHost: String = ProcessInfo.processInfo.hostName,
                       processExists: (Int32) -> Bool = RunDriver.processExists) -> Bool {
        if owner.host == localHost { return !processExists(owner.pid) }
        return now.timeIntervalSince(heartbeatAt) > RunDriver.staleAfter
    }

    /// Whether a process with this id exists on this machine.
    public static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

extension RunStatus {
    /// What a person is shown for a run in this state: a `running` run whose driver is gone
    /// (Ctrl-C, kill -9, a crash) is `interrupted` (continue it with `wflo resume`), or `queued`
    /// when it was submitted to a queue (a worker gave it back or died: the next worker continues
    /// it, nobody needs to resume it); one whose live driver waits for a person is `waiting_approval`.
    /// - Parameters:
    ///   - driverAlive: a process holds the run and is not gone (``RunDriver/isGone(now:localHost:processExists:)``).
    ///   - awaitingDecision: the run has a pending approval request.
    ///   - enqueued: the run was submitted to a queue (``RunRecord/queue``).
    public func shown(driverAlive: Bool, awaitingDecision: Bool, enqueued: Bool = false) -> String {
        guard self == .running else { return rawValue }
        if !driverAlive { return enqueued ? RunStatus.queued.rawValue : "interrupted" }
        return awaitingDecision ? RunStatus.waitingApproval.rawValue : rawValue
    }
}
