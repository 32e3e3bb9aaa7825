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
