import Foundation
import Synchronization
import WfloTesting
import Testing

/// Runs the real `wflo` executable built next to the test bundle.
struct WfloProcess {
    struct Result {
        var status: Int32
        var killedBySignal: Bool
        var stdout: String
        var stderr: String
        /// Both streams: progress goes to stderr, the result to stdout.
        var output: String { stdout + stderr }
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
    /// Every process started through this value, so ``killLeftovers()`` can end the ones a
    /// failing test left running (a `wflo run` waiting for an approval would otherwise outlive
    /// the test, and the whole test run with it).
    private let started = Started()

    init(environment: [String: String]) {
        self.environment = environment
    }

    private final class Started: Sendable {
        let processes = Mutex<[SpawnedProcess]>([])
    }

    /// SIGKILLs every process started here that is still running, and waits for each to end.
    func killLeftovers() async {
        let running = started.processes.withLock { list in list.filter(\.isRunning) }
        for process in running {
            process.send(SIGKILL)
            _ = await process.finish()
        }
    }

    /// Starts `wflo` in the repository's root (posix_spawn, not Foundation's Process: see
    /// ``SpawnedProcess``).
    func start(_ arguments: [String], extraEnvironment: [String: String] = [:]) throws -> SpawnedProcess {
        let process = try SpawnedProcess(executable: WfloProcess.executable.path, arguments: arguments,
                                         environment: environment.merging(extraEnvironment) { _, new in new },
                                         directory: WfloProcess.repositoryRoot.path)
        started.processes.withLock { $0.append(process) }
        return process
    }

    /// Runs to the end and collects the output.
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:]) async throws -> Result {
        await WfloProcess.finish(try start(arguments, extraEnvironment: extraEnvironment))
    }

    static func finish(_ process: SpawnedProcess) async -> Result {
        let ended = await process.finish()
        return Result(status: ended.status, killedBySignal: ended.killedBySignal, stdout: ended.stdout, stderr: ended.stderr)
    }
}
