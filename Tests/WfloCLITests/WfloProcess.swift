import Foundation
import Synchronization
import Testing

/// Runs the real `wflo` executable built next to the test bundle.
struct WfloProcess {
    struct Result {
        var status: Int32
        var killedBySignal: Bool
        var stdout: String
        var stderr: String
    }

    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = exe.deletingLastPathComponent()
        // The test runner is …/debug/wfloPackageTests.xctest (a file on Linux).
        for _ in 0..<3 {
            let candidate = folder.appendingPathComponent("wflo")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wflo")
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    let environment: [String: String]

    func start(_ arguments: [String], extraEnvironment: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = WfloProcess.executable
        process.arguments = arguments
        process.environment = environment.merging(extraEnvironment) { _, new in new }
        process.currentDirectoryURL = WfloProcess.repositoryRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        // One launch at a time: Foundation's Process.run crashed (SIGSEGV in memmove) twice in CI
        // while many suites launched processes at once; serialising the launch costs microseconds.
        try WfloProcess.launching.withLock { _ in try process.run() }
        return (process, out, err)
    }

    static let launching = Mutex(())

    /// Runs to the end and collects the output.
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:]) async throws -> Result {
        let (process, out, err) = try start(arguments, extraEnvironment: extraEnvironment)
        return await WfloProcess.finish(process, out, err)
    }

    static func finish(_ process: Process, _ out: Pipe, _ err: Pipe) async -> Result {
        // Read while it runs so a full pipe cannot block the child. The blocking reads and the wait
        // run on threads of their own: on the cooperative pool (two threads on a two-core machine)
        // they would stall every other test until the child exits.
        async let stdout = onThread { out.fileHandleForReading.readDataToEndOfFile() }
        async let stderr = onThread { err.fileHandleForReading.readDataToEndOfFile() }
        let (o, e) = await (stdout, stderr)
        _ = await onThread { process.waitUntilExit() }
        return Result(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                      stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Runs blocking `work` on a new thread and returns its result.
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}
