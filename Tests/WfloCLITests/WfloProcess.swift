import Foundation
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
        try process.run()
        return (process, out, err)
    }

    /// Runs to the end and collects the output.
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:]) async throws -> Result {
        let (process, out, err) = try start(arguments, extraEnvironment: extraEnvironment)
        return await WfloProcess.finish(process, out, err)
    }

    static func finish(_ process: Process, _ out: Pipe, _ err: Pipe) async -> Result {
        // Read while it runs so a full pipe cannot block the child.
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        let (o, e) = await (stdout, stderr)
        await Task.detached { process.waitUntilExit() }.value
        return Result(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                      stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}
