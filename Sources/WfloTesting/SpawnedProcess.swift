import Foundation
import CWfloSandbox
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` (the sandbox's own `wflo_spawn`), for tests that
/// run real executables.
///
/// Foundation's `Process.run()` on Linux (Swift 6.3) lists `/proc/self/fd` by copying whole
/// 256-byte `d_name` fields from `readdir`'s buffer; when the test process holds a thousand or
/// more descriptors, the last record can sit at the end of a mapped page and the copy crashes
/// the whole test run (SIGSEGV in memmove, swift-corelibs-foundation PR #5472). `wflo_spawn`
/// reads no directory: the child gets exactly the three descriptors it is given.
///
/// Output is read from the moment the child starts (a full pipe can never block it) and the
/// child is reaped by a thread of its own, so nothing here occupies Swift's cooperative pool.
public final class SpawnedProcess: Sendable {
    /// What the child's stdout and stderr are.
    public enum Output: Sendable {
        /// Two pipes, collected and returned by ``finish()``.
        case pipes
        /// One descriptor for both (a terminal, say); ``finish()`` then returns empty texts.
        case descriptor(Int32)
    }

    /// How the child ended.
    public struct Termination: Sendable {
        /// The exit status, or the signal number when ``killedBySignal``.
        public var status: Int32
        public var killedBySignal: Bool
        public var stdout: String
        public var stderr: String
    }

    /// The child's process id.
    public let pid: pid_t

    private struct State {
        var waitStatus: Int32?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    private let stdoutText: Collected?
    private let stderrText: Collected?

    /// Starts `executable` with exactly `arguments` (argv[0] is the executable's path) and
    /// `environment`, in `directory` when given.
    /// - Parameters:
    ///   - standardInput: the child's stdin; nil gives it `/dev/null`.
    /// - Throws: `POSIXError` when a pipe cannot be made or the spawn fails (no such file, …).
    public init(executable: String, arguments: [String], environment: [String: String], directory: String? = nil,
                standardInput: Int32? = nil, output: Output = .pipes) throws {
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        func fail(_ code: Int32) -> POSIXError {
            for fd in parentEnds { close(fd) }
            return POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        func makePipe() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            let rc = wflo_pipe(&ends)  // close-on-exec from the start
            guard rc == 0 else { throw fail(-rc) }
            return (ends[0], ends[1])
        }
        var nullInput: Int32 = -1
        if standardInput == nil {
            nullInput = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard nullInput >= 0 else { throw fail(errno) }
            childEnds.append(nullInput)
        }
        let stdinFD = standardInput ?? nullInput
        let stdoutFD: Int32, stderrFD: Int32
        switch output {
        case .pipes:
            let out = try makePipe()
            parentEnds.append(out.read); childEnds.append(out.write)
            let err = try makePipe()
            parentEnds.append(err.read); childEnds.append(err.write)
            (stdoutFD, stderrFD) = (out.write, err.write)
        case .descriptor(let fd):
            (stdoutFD, stderrFD) = (fd, fd)
        }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let fds = [stdinFD, stdoutFD, stderrFD]
        let rc = { (cwd: UnsafePointer<CChar>?) in wflo_spawn(executable, argv, envp, fds, 3, cwd, &child) }
        let spawned = directory.map { $0.withCString { rc($0) } } ?? rc(nil)
        guard spawned == 0 else { throw fail(spawned) }
        pid = child
        if case .pipes = output {
            stdoutText = Collected(reading: parentEnds[0])
            stderrText = Collected(reading: parentEnds[1])
        } else {
            stdoutText = nil
            stderrText = nil
        }
        Thread.detachNewThread { [child, self] in
            // Wait for the end without reaping, then reap under the lock: `send` never signals a
            // pid that has been reaped (and could be reused).
            var info = siginfo_t()
            while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            let waiters = self.state.withLock { state in
                var status: Int32 = 0
                _ = waitpid(child, &status, 0)
                state.waitStatus = status
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// True until the child has ended (and been reaped).
    public var isRunning: Bool { state.withLock { $0.waitStatus == nil } }

    /// Sends `signal` to the child (nothing once it has been reaped).
    public func send(_ signal: Int32) {
        state.withLock { state in
            if state.waitStatus == nil { _ = kill(pid, signal) }
        }
    }

    /// Waits for the child to end and for its output to close; returns both.
    public func finish() async -> Termination {
        await waitForExit()
        let out = await stdoutText?.text() ?? ""
        let err = await stderrText?.text() ?? ""
        let status = state.withLock { $0.waitStatus } ?? 0
        let signalled = status & 0x7f != 0 && status & 0x7f != 0x7f
        return Termination(status: signalled ? status & 0x7f : (status >> 8) & 0xff, killedBySignal: signalled,
                           stdout: out, stderr: err)
    }

    /// Waits for the child to end, at most `seconds`; returns its termination, or nil if it still runs.
    public func wait(seconds: Double) async -> Termination? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return isRunning ? nil : await finish()
    }

    private func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = state.withLock { state in
                if state.waitStatus != nil { return true }
                state.waiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
    }
}

/// Everything read from one descriptor until end of file, by a thread of its own.
private final class Collected: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    init(reading fd: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                self.state.withLock { $0.bytes.append(contentsOf: buffer[0..<n]) }
            }
            close(fd)
            let waiters = self.state.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    func text() async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        return state.withLock { String(decoding: $0.bytes, as: UTF8.self) }
    }
}
