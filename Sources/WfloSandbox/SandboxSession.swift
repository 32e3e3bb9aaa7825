import CWfloSandbox
import Foundation
import Synchronization
import WfloCore
#if canImport(Glibc)
import Glibc
#endif

/// A long-lived program in the sandbox that is talked to through its stdin and stdout — an MCP
/// stdio server — under the same containment as ``Sandbox/run(_:)``: the launcher's rlimits,
/// unprivileged uid, Landlock (system paths and the request's `readOnly` paths read-only, its
/// scratch directory read-write), seccomp, no network unless the policy allows it. The wall
/// limit is how long it may live.
///
/// Lines the program writes on stdout arrive in ``lines``; stderr is kept bounded (its last
/// ``stderrLimit`` bytes) for error messages. ``stop()`` ends the whole process tree (SIGTERM,
/// the grace period, SIGKILL) and removes the scratch directory; so does the end of the program.
public final class SandboxSession: Sendable {
    /// stdout, one line at a time (without the newline); finishes when the program's stdout closes.
    public let lines: AsyncStream<String>
    /// Bytes of stderr kept (the last ones).
    public static let stderrLimit = 16 << 10
    /// The longest stdout line accepted; a longer one ends the session (the program is stopped).
    public static let lineLimit = 16 << 20

    private let pid: pid_t
    private let stdinFD: Int32
    private let scratch: Scratch
    private let state: Mutex<State>

    private struct State {
        var stderr: [UInt8] = []
        var stopped = false
        var ended = false
        var report: [String: String] = [:]
        var waitStatus: Int32 = 0
        var stdinClosed = false
    }

    private init(pid: pid_t, stdinFD: Int32, scratch: Scratch, lines: AsyncStream<String>) {
        self.pid = pid
        self.stdinFD = stdinFD
        self.scratch = scratch
        self.lines = lines
        self.state = Mutex(State())
    }

    deinit {
        // Closed only here: a write racing the program's end must not reach a reused descriptor.
        close(stdinFD)
    }

    /// The last lines of what the program wrote on stderr (at most `count`).
    public func stderrTail(lines count: Int = 10) -> String {
        let text = state.withLock { String(decoding: $0.stderr, as: UTF8.self) }
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(count).joined(separator: "\n")
    }

    /// Whether the program has ended (by itself, a limit, or ``stop()``).
    public var hasEnded: Bool { state.withLock { $0.ended } }

    /// How the program ended, for messages: "exited with status 1", "killed by signal 9", or the
    /// launcher's own error (a missing layer, a `readOnly` path that does not exist).
    public var endDescription: String? {
        state.withLock { state in
            guard state.ended else { return nil }
            if let error = state.report["error"] { return "could not start: \(error)" }
            if state.report["reason"] == "wall" { return "was stopped at its wall limit" }
            if let exit = state.report["exit"] { return "exited with status \(exit)" }
            if let signal = state.report["signal"] { return "was killed by signal \(signal)" }
            return "ended (wait status \(state.waitStatus))"
        }
    }

    /// Writes `bytes` to the program's stdin, waiting at most `timeout` seconds for room.
    /// - Throws: ``SandboxError`` when the program no longer reads (it ended or closed stdin) or
    ///   the pipe stayed full past the timeout.
    public func write(_ bytes: [UInt8], timeout: Double) throws(SandboxError) {
        var offset = 0
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while offset < bytes.count {
            if state.withLock({ $0.stdinClosed || $0.ended }) {
                throw SandboxError(.system, "the program no longer reads its input (it \(endDescription ?? "closed its stdin"))")
            }
            let n = bytes.withUnsafeBytes { Glibc.write(stdinFD, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno != EAGAIN && errno != EINTR {
                throw SandboxError(.system, "writing to the program failed: \(String(cString: strerror(errno)))")
            }
            if ContinuousClock.now > deadline { throw SandboxError(.system, "the program did not read its input for \(timeout) s") }
            var entry = pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)
            _ = poll(&entry, 1, 50)
        }
    }

    /// Ends the program's whole tree (SIGTERM, the grace period, SIGKILL, by the launcher) and
    /// waits until it is gone; the scratch directory is removed. Safe to call more than once.
    public func stop() async {
        let signal = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.ended && !state.stopped
        }
        if signal { kill(pid, SIGTERM) }
        // The launcher ends the tree within its grace period; a cancelled task still waits for it.
        while !hasEnded {
            do {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                usleep(20_000)
            }
        }
    }

    // MARK: starting

    /// Starts the request's program (stdin, files and outputs are not used: it is talked to
    /// through ``write(_:timeout:)`` and ``lines``).
    /// - Throws: ``SandboxError`` when it cannot start (no launcher, a bad file, docker asked:
    ///   sessions run on the process and namespaces backends).
    static func start(_ request: SandboxRequest, backend: SandboxBackendChoice, environment hostEnvironment: [String: String],
                      arguments: (Scratch) -> [String]) throws(SandboxError) -> SandboxSession {
        guard backend != .docker else {
            throw SandboxError(.invalidRequest, "a long-lived program runs on the process or namespaces backend, not docker")
        }
        let scratch = try Scratch.create(environment: hostEnvironment)
        do throws(SandboxError) {
            try scratch.place(request.files)
        } catch {
            _ = scratch.remove()
            throw error
        }
        let launcher: Launcher
        let filter: [UInt8]
        do throws(SandboxError) {
            launcher = try Launcher.locate(environment: hostEnvironment)
            filter = try launcher.filter(for: request.policy.network)
        } catch {
            _ = scratch.remove()
            throw error
        }
        var environment = request.environment
        let inside = backend == .process ? scratch.work : "/scratch"
        if environment["PATH"] == nil { environment["PATH"] = Sandbox.defaultPath }
        if environment["LANG"] == nil { environment["LANG"] = "C.UTF-8" }
        if environment["HOME"] == nil { environment["HOME"] = inside }
        if environment["TMPDIR"] == nil { environment["TMPDIR"] = backend == .process ? scratch.work : "/tmp" }

        var pipes: [(read: Int32, write: Int32)] = []
        func closeAll() {
            for p in pipes {
                if p.read >= 0 { close(p.read) }
                if p.write >= 0 { close(p.write) }
            }
        }
        for _ in 0..<5 {
            var fds: [Int32] = [-1, -1]
            let rc = wflo_pipe(&fds)
            if rc != 0 {
                closeAll()
                _ = scratch.remove()
                throw SandboxError(.system, "pipe failed: \(String(cString: strerror(-rc)))")
            }
            pipes.append((fds[0], fds[1]))
        }
        let written = filter.withUnsafeBytes { Glibc.write(pipes[4].write, $0.baseAddress, $0.count) }
        close(pipes[4].write)
        pipes[4].write = -1
        guard written == filter.count else {
            closeAll()
            _ = scratch.remove()
            throw SandboxError(.system, "passing the seccomp filter to the launcher failed")
        }
        let childFDs: [Int32] = [pipes[0].read, pipes[1].write, pipes[2].write, pipes[3].write, pipes[4].read]
        let argv = [launcher.path] + arguments(scratch)
        let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cArgv in
            withCStrings(env) { cEnv in wflo_spawn(launcher.path, cArgv, cEnv, childFDs, Int32(childFDs.count), nil, &pid) }
        }
        close(pipes[0].read); pipes[0].read = -1
        for index in 1...3 { close(pipes[index].write); pipes[index].write = -1 }
        close(pipes[4].read); pipes[4].read = -1
        guard rc == 0 else {
            closeAll()
            _ = scratch.remove()
            throw SandboxError(.system, "cannot start \(launcher.path): \(String(cString: strerror(rc)))")
        }
        for fd in [pipes[0].write, pipes[1].read, pipes[2].read, pipes[3].read] { _ = wflo_set_nonblocking_cloexec(fd) }

        let (lines, lineSink) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
        let session = SandboxSession(pid: pid, stdinFD: pipes[0].write, scratch: scratch, lines: lines)
        let stdoutFD = pipes[1].read, stderrFD = pipes[2].read, reportFD = pipes[3].read
        let thread = Thread {
            session.pump(stdoutFD: stdoutFD, stderrFD: stderrFD, reportFD: reportFD, lines: lineSink)
        }
        thread.name = "wflo-sandbox-session"
        thread.start()
        return session
    }

    /// Reads the program's output until it is gone, then cleans up. Runs on its own thread.
    private func pump(stdoutFD: Int32, stderrFD: Int32, reportFD: Int32, lines: AsyncStream<String>.Continuation) {
        let pidfd = wflo_pidfd_open(pid)
        var open: [Int32: Bool] = [stdoutFD: true, stderrFD: true, reportFD: true]
        var pending: [UInt8] = []
        var report: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var reapedAt: ContinuousClock.Instant?
        var waitStatus: Int32 = 0
        while true {
            if reapedAt == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    waitStatus = status
                    reapedAt = .now
                }
            }
            if let reapedAt, !open.values.contains(true) || ContinuousClock.now - reapedAt > .milliseconds(200) { break }
            var fds: [pollfd] = open.filter(\.value).map { pollfd(fd: $0.key, events: Int16(POLLIN), revents: 0) }
            if pidfd >= 0 && reapedAt == nil { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), reapedAt != nil ? 20 : 100)
            if ready < 0 && errno != EINTR { break }
            for entry in fds where entry.revents != 0 && open[entry.fd] == true {
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
                    open[entry.fd] = false
                    continue
                }
                guard n > 0 else { continue }
                let chunk = buffer[0..<n]
                if entry.fd == stdoutFD {
                    pending += chunk
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        lines.yield(String(decoding: pending[..<newline], as: UTF8.self))
                        pending.removeSubrange(...newline)
                    }
                    if pending.count > Self.lineLimit {
                        pending = []
                        state.withLock { $0.stderr += Array("\n[wflo: a line on stdout passed \(Self.lineLimit) bytes; stopped]\n".utf8) }
                        kill(pid, SIGTERM)
                    }
                } else if entry.fd == stderrFD {
                    state.withLock { state in
                        state.stderr += chunk
                        if state.stderr.count > Self.stderrLimit { state.stderr.removeFirst(state.stderr.count - Self.stderrLimit) }
                    }
                } else {
                    report += chunk
                }
            }
        }
        if reapedAt == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            waitStatus = status
        }
        // The launcher leads its own process group: whatever it left is killed with it.
        _ = kill(-pid, SIGKILL)
        if !pending.isEmpty { lines.yield(String(decoding: pending, as: UTF8.self)) }
        var parsed: [String: String] = [:]
        for line in String(decoding: report, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            if parsed[key] == nil { parsed[key] = String(line[line.index(after: equals)...]) }
        }
        for fd in [stdoutFD, stderrFD, reportFD] { close(fd) }
        if pidfd >= 0 { close(pidfd) }
        state.withLock { state in
            state.report = parsed
            state.waitStatus = waitStatus
            state.ended = true
            state.stdinClosed = true
        }
        // Finished only now: whoever sees the end of stdout can already tell how the program ended.
        lines.finish()
        _ = scratch.remove()
    }
}

extension Sandbox {
    /// Starts a long-lived program in the sandbox, talked to through its stdin and stdout (an
    /// MCP stdio server). The policy's wall limit is its lifetime; `readOnly` paths of the policy
    /// are readable. See ``SandboxSession``.
    /// - Throws: ``SandboxError`` when it cannot start.
    public func start(_ request: SandboxRequest) throws -> SandboxSession {
        guard !request.command.isEmpty else { throw SandboxError(.invalidRequest, "no command to run") }
        let backend = try resolve(request.policy.backend)
        let limits = request.policy.limits.resolved()
        return try SandboxSession.start(request, backend: backend, environment: environment) { scratch in
            launcherArguments(request, backend: backend, scratch: scratch, limits: limits)
        }
    }
}
