import CWfloSandbox
import Foundation
import Synchronization
import WfloCore
#if canImport(Glibc)
import Glibc
#endif

/// Runs untrusted programs contained (invariant 5 of DESIGN.md): no network unless allowed, no
/// writes outside the scratch directory, the whole process tree dead at the time limit, and
/// memory, CPU time, output, processes, file sizes and open files bounded.
///
/// ```swift
/// let result = try await Sandbox().run(SandboxRequest(command: ["python3", "-c", "print(6 * 7)"],
///                                                     policy: SandboxPolicy(limits: SandboxLimits(wall: 5))))
/// result.stdoutText   // "42\n"
/// ```
///
/// Backends: `process` (the launcher: new session, child subreaper, rlimits, its own uid when
/// started as root, no_new_privs, Landlock, seccomp), `namespaces` (user/pid/mount/net/ipc/uts
/// namespaces, read-only root, the same seccomp filter), `docker`, and `auto`.
///
/// ## Topics
/// - ``run(_:)``
/// - ``check()``
public struct Sandbox: Sendable {
    public let environment: [String: String]

    /// The PATH programs get when the request gives none.
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
        _ = Sandbox.processSetup
    }

    /// Once per process: not dumpable (a sandboxed program of the same uid cannot read this
    /// process's memory or environment through /proc), and SIGPIPE ignored (a program that
    /// closes its stdin early must not kill wflo).
    private static let processSetup: Void = {
        _ = wflo_set_dumpable(0)
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Runs the request's program to its end (or its limits) and returns what it did.
    ///
    /// Cancelling the task stops the program like the wall limit does (SIGTERM to the whole tree,
    /// the grace period, SIGKILL), removes the scratch directory, then throws `CancellationError`.
    /// - Throws: ``SandboxError`` when the program could not be started at all (a layer missing,
    ///   no launcher, no Docker engine, a bad file path); `CancellationError`.
    public func run(_ request: SandboxRequest) async throws -> SandboxResult {
        guard !request.command.isEmpty else { throw SandboxError(.invalidRequest, "no command to run") }
        for file in request.files {
            if let problem = SandboxFile.problem(with: file.path) { throw SandboxError(.invalidRequest, "file \(problem)") }
        }
        let backend = try resolve(request.policy.backend)
        let scratch = try Scratch.create(environment: environment)
        defer { scratch.remove() }
        try scratch.place(request.files)

        let handle = CancellationBox()
        let result: Result<SandboxResult, SandboxError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    do throws(SandboxError) {
                        continuation.resume(returning: .success(try self.execute(request, backend: backend, scratch: scratch, handle: handle)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
                thread.name = "wflo-sandbox"
                thread.start()
            }
        } onCancel: {
            handle.cancel()
        }
        try Task.checkCancellation()
        return try result.get()
    }

    /// Which layers work on this machine: landlock, seccomp, uid, namespaces, docker.
    public func check() -> [SandboxLayerStatus] {
        var layers: [SandboxLayerStatus]
        do {
            layers = try Launcher.locate(environment: environment).check()
        } catch {
            layers = [SandboxLayerStatus(name: "launcher", works: false, detail: error.message)]
        }
        switch dockerEngine() {
        case .success(let version): layers.append(SandboxLayerStatus(name: "docker", works: true, detail: "engine \(version) answers"))
        case .failure(let error): layers.append(SandboxLayerStatus(name: "docker", works: false, detail: error.message))
        }
        return layers
    }

    /// The backend `choice` means here: `auto` is `namespaces` where user namespaces work, else `process`.
    public func resolve(_ choice: SandboxBackendChoice) throws(SandboxError) -> SandboxBackendChoice {
        guard choice == .auto else { return choice }
        let layers = try Launcher.locate(environment: environment).check()
        return layers.contains { $0.name == "namespaces" && $0.works } ? .namespaces : .process
    }

    // MARK: running

    private func execute(_ request: SandboxRequest, backend: SandboxBackendChoice, scratch: Scratch,
                         handle: CancellationBox) throws(SandboxError) -> SandboxResult {
        let limits = request.policy.limits.resolved()
        let outputLimit = limits.output ?? SandboxLimits.defaults.output!
        var environment = request.environment
        let inside = backend == .process ? scratch.work : "/scratch"
        if environment["PATH"] == nil { environment["PATH"] = Sandbox.defaultPath }
        if environment["LANG"] == nil { environment["LANG"] = "C.UTF-8" }
        if environment["HOME"] == nil { environment["HOME"] = inside }
        if environment["TMPDIR"] == nil { environment["TMPDIR"] = backend == .process ? scratch.work : "/tmp" }

        let outcome: ChildProcess.Outcome
        if backend == .docker {
            outcome = try runDocker(request, environment: environment, scratch: scratch, limits: limits, outputLimit: outputLimit, handle: handle)
        } else {
            let launcher = try Launcher.locate(environment: self.environment)
            let filter = try launcher.filter(for: request.policy.network)
            let arguments = launcherArguments(request, backend: backend, scratch: scratch, limits: limits)
            let wall = limits.wall ?? SandboxLimits.defaults.wall!
            // The launcher enforces the wall limit; this deadline only backs it up.
            outcome = try ChildProcess.run(executable: launcher.path, arguments: arguments, environment: environment, stdin: request.stdin,
                                           fd4: filter, outputLimit: outputLimit, deadline: wall + request.policy.killGrace + 5,
                                           started: { handle.started($0) })
            if let message = outcome.report["error"] {
                let layer = outcome.report["layer"]
                let known = layer.map { SandboxLayer(rawValue: $0) != nil || ["namespaces", "no_new_privs", "rlimits"].contains($0) } ?? false
                throw SandboxError(known ? .layerMissing : .system, message, layer: layer)
            }
            if outcome.report["exit"] == nil && outcome.report["signal"] == nil {
                throw SandboxError(.system, "the launcher ended without reporting the program's status (wait status \(outcome.waitStatus)): "
                                   + String(decoding: outcome.stderr.prefix(500), as: UTF8.self))
            }
        }
        return result(outcome, backend: backend, limits: limits, outputLimit: outputLimit, scratch: scratch, request: request)
    }

    func launcherArguments(_ request: SandboxRequest, backend: SandboxBackendChoice, scratch: Scratch, limits: SandboxLimits) -> [String] {
        var args = ["--backend", backend == .namespaces ? "namespaces" : "process", "--network", Launcher.mode(request.policy.network),
                    "--scratch", scratch.work, "--bpf-fd",
                    "--grace-ms", String(Int((request.policy.killGrace * 1000).rounded()))]
        if backend == .namespaces {
            args += ["--newroot", scratch.root]
            if let rootfs = request.policy.rootfs ?? environment["WFLO_SANDBOX_ROOTFS"].flatMap({ $0.isEmpty ? nil : $0 }) {
                args += ["--rootfs", rootfs]
            }
            if let size = limits.fileSize { args += ["--tmpfs", String(size)] }
        }
        for path in request.policy.readOnly { args += ["--read-only", path] }
        if case .tcp(let connect, let bind) = request.policy.network {
            for port in connect { args += ["--tcp-connect", String(port)] }
            for port in bind { args += ["--tcp-bind", String(port)] }
        }
        if let wall = limits.wall { args += ["--wall-ms", String(Int((wall * 1000).rounded()))] }
        if let cpu = limits.cpu { args += ["--cpu-seconds", String(max(1, Int(cpu.rounded(.up))))] }
        if let memory = limits.memory { args += ["--memory", String(memory)] }
        if let size = limits.fileSize { args += ["--file-size", String(size)] }
        if let processes = limits.processes { args += ["--processes", String(processes)] }
        if let files = limits.openFiles { args += ["--open-files", String(files)] }
        if !request.policy.allowMissing.isEmpty {
            args += ["--allow-missing", request.policy.allowMissing.map(\.rawValue).sorted().joined(separator: ",")]
        }
        return args + ["--"] + request.command
    }

    private func result(_ outcome: ChildProcess.Outcome, backend: SandboxBackendChoice, limits: SandboxLimits, outputLimit: Int,
                        scratch: Scratch, request: SandboxRequest) -> SandboxResult {
        var result = SandboxResult(backend: backend)
        result.stdout = outcome.stdout
        result.stderr = outcome.stderr
        result.stdoutTruncated = outcome.stdoutTruncated
        result.stderrTruncated = outcome.stderrTruncated
        if outcome.stdoutTruncated { result.stdout += Array("\n[wflo: stdout truncated at \(outputLimit) bytes]\n".utf8) }
        if outcome.stderrTruncated { result.stderr += Array("\n[wflo: stderr truncated at \(outputLimit) bytes]\n".utf8) }
        result.exitCode = outcome.report["exit"].flatMap { Int($0) }
        result.signal = outcome.report["signal"].flatMap { Int32($0) }
        result.cpuSeconds = outcome.report["cpu_ms"].flatMap { Double($0) }.map { $0 / 1000 }
        result.maxResidentBytes = outcome.report["maxrss_kb"].flatMap { Int($0) }.map { $0 * 1024 }
        result.leftoversKilled = outcome.report["leftovers"].flatMap { Int($0) } ?? 0
        result.duration = outcome.report["wall_ms"].flatMap { Double($0) }.map { $0 / 1000 } ?? outcome.seconds

        switch outcome.stopReason {
        case .output?: result.killedReason = .output
        case .cancelled?: result.killedReason = .cancelled
        case .deadline?:
            result.killedReason = .wall
            result.timedOut = true
        case nil: break
        }
        if result.killedReason == nil, outcome.report["reason"] == "wall" {
            result.killedReason = .wall
            result.timedOut = true
        }
        if result.killedReason == nil, let signal = result.signal {
            if signal == SIGXCPU {
                result.killedReason = .cpu
            } else if signal == SIGKILL, let cpu = limits.cpu, let used = result.cpuSeconds, used >= cpu.rounded(.up) - 0.05 {
                result.killedReason = .cpu
            } else if signal == SIGXFSZ {
                result.killedReason = .fileSize
            }
        }
        if result.killedReason == nil, !result.succeeded, Sandbox.diedOfMemory(result, limit: limits.memory) {
            result.killedReason = .memory
        }
        // Interpreters that ignore SIGXFSZ (Python does) fail the write with EFBIG instead.
        if result.killedReason == nil, !result.succeeded, limits.fileSize != nil,
           String(decoding: result.stderr.suffix(4096), as: UTF8.self).contains("File too large") {
            result.killedReason = .fileSize
        }
        result.files = scratch.collect(request.outputs, limit: outputLimit)
        return result
    }

    /// RLIMIT_DATA makes allocations fail; what a program does then varies. It counts as the
    /// memory limit when the program failed saying so, or died by a signal at the limit.
    static func diedOfMemory(_ result: SandboxResult, limit: Int?) -> Bool {
        guard let limit else { return false }
        let text = String(decoding: result.stderr.suffix(4096), as: UTF8.self)
        let said = ["MemoryError", "Cannot allocate memory", "out of memory", "Out of memory", "bad_alloc", "Allocation failed",
                    "memory exhausted", "xmalloc: cannot allocate"].contains { text.contains($0) }
        if said { return true }
        if let signal = result.signal, [SIGKILL, SIGSEGV, SIGABRT, SIGBUS].contains(signal), let rss = result.maxResidentBytes {
            return rss >= limit * 9 / 10
        }
        return false
    }

    // MARK: docker

    private func dockerPath() -> String? {
        for folder in (environment["PATH"] ?? Sandbox.defaultPath).split(separator: ":") {
            let candidate = "\(folder)/docker"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The engine's version when `docker version` gets an answer from it.
    func dockerEngine() -> Result<String, SandboxError> {
        guard let docker = dockerPath() else {
            return .failure(SandboxError(.engineUnavailable, "no docker client on PATH; use backend: process or namespaces"))
        }
        do {
            let outcome = try ChildProcess.run(executable: docker, arguments: ["version", "--format", "{{.Server.Version}}"],
                                               environment: environment, stdin: [], fd4: nil, outputLimit: 65536, deadline: 10,
                                               started: { _ in })
            let version = String(decoding: outcome.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if outcome.waitStatus == 0, !version.isEmpty { return .success(version) }
            let said = String(decoding: outcome.stderr, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "no answer"
            return .failure(SandboxError(.engineUnavailable, "no Docker engine answers (docker version: \(said)); start one, or use backend: process or namespaces"))
        } catch {
            return .failure(error)
        }
    }

    private func runDocker(_ request: SandboxRequest, environment: [String: String], scratch: Scratch, limits: SandboxLimits,
                           outputLimit: Int, handle: CancellationBox) throws(SandboxError) -> ChildProcess.Outcome {
        let version = dockerEngine()
        if case .failure(let error) = version { throw error }
        guard let docker = dockerPath() else { throw SandboxError(.engineUnavailable, "no docker client on PATH") }
        if getuid() == 0 { Sandbox.giveTree(scratch.work, uid: 65534, gid: 65534) }
        var inner = request
        inner.environment = environment
        let name = "wflo-sandbox-" + UUID().uuidString.lowercased().prefix(12)
        let arguments = try DockerCommand.arguments(for: inner, scratch: scratch.work, name: String(name))
        let clientEnvironment = self.environment.filter { ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT"].contains($0.key) }
        let host = self.environment
        return try ChildProcess.run(executable: docker, arguments: arguments, environment: clientEnvironment, stdin: request.stdin, fd4: nil,
                                    outputLimit: outputLimit, deadline: limits.wall ?? SandboxLimits.defaults.wall!,
                                    onDeadline: { client in
                                        // The client going away does not stop the container: the engine must.
                                        _ = try? ChildProcess.run(executable: docker, arguments: ["kill", String(name)], environment: host.filter { $0.key == "PATH" || $0.key.hasPrefix("DOCKER_") },
                                                                  stdin: [], fd4: nil, outputLimit: 65536, deadline: 10, started: { _ in })
                                        client.stop(.deadline)
                                    },
                                    started: { handle.started($0) })
    }

    static func giveTree(_ path: String, uid: uid_t, gid: gid_t) {
        lchown(path, uid, gid)
        guard let walker = FileManager.default.enumerator(atPath: path) else { return }
        while let item = walker.nextObject() as? String { lchown(path + "/" + item, uid, gid) }
    }
}

/// Carries a cancellation to the process once it exists (or at once, if it already does).
final class CancellationBox: Sendable {
    private let state = Mutex<(process: ChildProcess?, cancelled: Bool)>((nil, false))

    func started(_ process: ChildProcess) {
        let cancelled = state.withLock { state in
            state.process = process
            return state.cancelled
        }
        if cancelled { process.stop(.cancelled) }
    }

    func cancel() {
        let process = state.withLock { state in
            state.cancelled = true
            return state.process
        }
        process?.stop(.cancelled)
    }
}
