import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run real executables.
///
/// Foundation's `Process.run()` on Linux (Swift 6.3) lists `/proc/self/fd` by copying whole
/// 256-byte `d_name` fields from `readdir`'s buffer; when the test process holds a thousand or
/// more descriptors, the last record can sit at the end of a mapped page and the copy crashes
/// the whole test run (SIGSEGV in memmove, swift-corelibs-foundation PR #5472). This spawner
/// reads no directory: the pipes it makes are close-on-exec, so the child inherits only the
/// three descriptors it is given.
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
        func makePipe() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            guard Self.pipe2(&ends, O_CLOEXEC) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            return (ends[0], ends[1])
        }
        var nullInput: Int32 = -1
        if standardInput == nil {
            nullInput = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard nullInput >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            childEnds.append(nullInput)
        }
        let stdinFD = standardInput ?? nullInput
        let stdoutFD: Int32, stderrFD: Int32
        switch output {
        case .pipes:
            do {
                let out = try makePipe()
                parentEnds.append(out.read); childEnds.append(out.write)
                let err = try makePipe()
                parentEnds.append(err.read); childEnds.append(err.write)
                (stdoutFD, stderrFD) = (out.write, err.write)
            } catch {
                for fd in parentEnds { close(fd) }
                throw error
            }
        case .descriptor(let fd):
            (stdoutFD, stderrFD) = (fd, fd)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 onto 0, 1, 2 clears close-on-exec on the copies; every other descriptor this
        // process opens is close-on-exec (NIO's, SQLite's, the pipes above).
        posix_spawn_file_actions_adddup2(&actions, stdinFD, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
        // Belt and braces for a descriptor some library opened without close-on-exec: glibc 2.34+
        // closes the rest with close_range, reading no directory.
        if let addCloseFrom = Self.addCloseFrom { _ = addCloseFrom(&actions, 3) }
        if let directory {
            guard let addChdir = Self.addChdir else {
                for fd in parentEnds { close(fd) }
                throw POSIXError(.ENOSYS)
            }
            let rc = directory.withCString { addChdir(&actions, $0) }
            guard rc == 0 else {
                for fd in parentEnds { close(fd) }
                throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with no blocked signals and default handlers (NIO ignores SIGPIPE here).
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            for fd in parentEnds { close(fd) }
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO)
        }
        pid = child
        if case .pipes = output {
            stdoutText = Collected(reading: parentEnds[0])
            stderrText = Collected(reading: parentEnds[1])
        } else {
            stdoutText = nil
            stderrText = nil
        }
        Thread.detachNewThread { [child, self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let waiters = self.state.withLock { state in
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

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which Swift's Glibc module does not expose.
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let addChdir: AddChdir? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    /// glibc's `pipe2` (close-on-exec from the start: another test's spawn in between cannot
    /// inherit the ends), which Swift's Glibc module does not expose either.
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2: Pipe2 = {
        guard let symbol = dlsym(nil, "pipe2") else { preconditionFailure("glibc without pipe2") }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), likewise not exposed.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
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
