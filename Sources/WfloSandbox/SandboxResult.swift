import Foundation
import WfloCore

/// Why a sandboxed program was stopped before it ended by itself.
public enum SandboxKillReason: String, Sendable, Hashable, CaseIterable {
    /// The wall-clock limit passed (``SandboxResult/timedOut`` is true).
    case wall
    /// The CPU-time limit (SIGXCPU, then SIGKILL).
    case cpu
    /// An allocation failed at the memory limit (the program died of it, or reported it and exited).
    case memory
    /// stdout or stderr went past the output limit.
    case output
    /// A file reached the file-size limit (SIGXFSZ).
    case fileSize = "file_size"
    /// The run was cancelled.
    case cancelled
}

/// What a sandboxed program did. A non-zero exit or a kill is a result, not an error.
public struct SandboxResult: Sendable, Hashable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// True when the stream went past the output limit (the kept part ends with a marker).
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    /// The exit status, or nil when a signal ended the program.
    public var exitCode: Int?
    /// The signal that ended the program, or nil.
    public var signal: Int32?
    public var timedOut: Bool
    public var killedReason: SandboxKillReason?
    /// Seconds from start to the end of the whole tree.
    public var duration: Double
    /// CPU seconds used by the program and everything it started.
    public var cpuSeconds: Double?
    /// Peak resident memory of the largest process, in bytes.
    public var maxResidentBytes: Int?
    /// Processes still running when the program ended, killed then.
    public var leftoversKilled: Int
    /// `outputs:` files, in request order.
    public var files: [SandboxCollectedFile]
    /// The backend that ran it (`process`, `namespaces`, `docker`).
    public var backend: SandboxBackendChoice

    public init(stdout: [UInt8] = [], stderr: [UInt8] = [], stdoutTruncated: Bool = false, stderrTruncated: Bool = false,
                exitCode: Int? = nil, signal: Int32? = nil, timedOut: Bool = false, killedReason: SandboxKillReason? = nil,
                duration: Double = 0, cpuSeconds: Double? = nil, maxResidentBytes: Int? = nil, leftoversKilled: Int = 0,
                files: [SandboxCollectedFile] = [], backend: SandboxBackendChoice = .process) {
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
        self.exitCode = exitCode
        self.signal = signal
        self.timedOut = timedOut
        self.killedReason = killedReason
        self.duration = duration
        self.cpuSeconds = cpuSeconds
        self.maxResidentBytes = maxResidentBytes
        self.leftoversKilled = leftoversKilled
        self.files = files
        self.backend = backend
    }

    /// Exited by itself with status 0.
    public var succeeded: Bool { exitCode == 0 && killedReason == nil }

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }

    /// One line for people: "exited with status 3", "killed: wall time limit reached (signal 9)".
    public var summary: String {
        var text: String
        if let killedReason {
            text = "killed: " + Self.describe(killedReason)
            if let signal { text += " (\(SandboxResult.signalName(signal)))" }
        } else if let signal {
            text = "killed by \(SandboxResult.signalName(signal))"
        } else {
            text = "exited with status \(exitCode ?? -1)"
        }
        return text
    }

    static func describe(_ reason: SandboxKillReason) -> String {
        switch reason {
        case .wall: return "wall time limit reached"
        case .cpu: return "CPU time limit reached"
        case .memory: return "memory limit reached"
        case .output: return "output limit reached"
        case .fileSize: return "file size limit reached"
        case .cancelled: return "the run was cancelled"
        }
    }

    /// `SIGKILL`, `SIGTERM`, … or `signal N`.
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
                                      8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
                                      24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS"]
        return names[signal] ?? "signal \(signal)"
    }
}

/// A file collected from the scratch directory.
public struct SandboxCollectedFile: Sendable, Hashable {
    public var path: String
    /// Nil when the file could not be collected (see ``problem``).
    public var contents: [UInt8]?
    /// Why it was not collected: missing, a link, not a regular file, larger than the limit.
    public var problem: String?

    public init(path: String, contents: [UInt8]?, problem: String?) {
        self.path = path
        self.contents = contents
        self.problem = problem
    }
}
