import CWfloSandbox
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A process started with posix_spawn (never fork in this multi-threaded process) whose
/// stdout, stderr and report pipe are read until it exits. Runs on the calling thread: callers
/// give it a thread of its own.
final class ChildProcess: Sendable {
    enum StopReason: Sendable { case output, cancelled, deadline }

    struct Outcome: Sendable {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var stdoutTruncated = false
        var stderrTruncated = false
        /// key=value lines from fd 3 (the launcher's report).
        var report: [String: String] = [:]
        /// The raw wait status of the spawned process.
        var waitStatus: Int32 = 0
        var stopReason: StopReason?
        var seconds: Double = 0
    }

    private struct State {
        var reaped = false
        var stop: StopReason?
        var signalled = false
    }

    let pid: pid_t
    private let state = Mutex(State())

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// Asks the process to stop: SIGTERM (the launcher then stops the whole tree: SIGTERM, grace,
    /// SIGKILL). Safe to call at any time: a reaped process is not signalled.
    func stop(_ reason: StopReason, signal: Int32 = SIGTERM) {
        state.withLock { state in
            if state.stop == nil { state.stop = reason }
            guard !state.reaped else { return }
            state.signalled = true
            kill(pid, signal)
        }
    }

    private var stopReason: StopReason? { state.withLock { $0.stop } }

    /// Spawns `executable` and runs it to its end.
    /// - Parameters:
    ///   - extraFDs: bytes for fd 4 (the exported seccomp filter), when given.
    ///   - outputLimit: bytes of stdout and of stderr kept; past it the process is stopped.
    ///   - deadline: seconds after which `onDeadline` runs (once), then SIGKILL 2 s later.
    ///   - started: called once the process exists (to register cancellation).
    static func run(executable: String, arguments: [String], environment: [String: String], stdin: [UInt8], fd4: [UInt8]?,
                    outputLimit: Int, deadline: Double?, onDeadline: (@Sendable (ChildProcess) -> Void)? = nil,
                    started: (ChildProcess) -> Void) throws(SandboxError) -> Outcome {
        var pipes: [(read: Int32, write: Int32)] = []
        func closeAll() {
            for p in pipes {
                if p.read >= 0 { close(p.read) }
                if p.write >= 0 { close(p.write) }
            }
        }
        for _ in 0..<(fd4 == nil ? 4 : 5) {
            var fds: [Int32] = [-1, -1]
            let rc = wflo_pipe(&fds)
            if rc != 0 { closeAll(); throw SandboxError(.system, "pipe failed: \(String(cString: strerror(-rc)))") }
            pipes.append((fds[0], fds[1]))
        }
        // 0 stdin, 1 stdout, 2 stderr, 3 report, 4 filter
        if let fd4 {
            let written = fd4.withUnsafeBytes { write(pipes[4].write, $0.baseAddress, $0.count) }
            if written != fd4.count { closeAll(); throw SandboxError(.system, "passing the seccomp filter to the launcher failed") }
            close(pipes[4].write)
            pipes[4].write = -1
        }
        var childFDs: [Int32] = [pipes[0].read, pipes[1].write, pipes[2].write, pipes[3].write]
        if fd4 != nil { childFDs.append(pipes[4].read) }

        let argv = [executable] + arguments
        let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cArgv in
            withCStrings(env) { cEnv in
                wflo_spawn(executable, cArgv, cEnv, childFDs, Int32(childFDs.count), nil, &pid)
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        // The child's ends belong to the child now.
        for index in pipes.indices {
            if index == 0 { close(pipes[0].read); pipes[0].read = -1 } else if pipes[index].write >= 0 { close(pipes[index].write); pipes[index].write = -1 }
            if index == 4 { close(pipes[4].read); pipes[4].read = -1 }
        }
        guard rc == 0 else {
            closeAll()
            throw SandboxError(.system, "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        let process = ChildProcess(pid: pid)
        started(process)

        let stdinFD = pipes[0].write, stdoutFD = pipes[1].read, stderrFD = pipes[2].read, reportFD = pipes[3].read
        for fd in [stdinFD, stdoutFD, stderrFD, reportFD] { _ = wflo_set_nonblocking_cloexec(fd) }
        let pidfd = wflo_pidfd_open(pid)

        var outcome = Outcome()
        var report: [UInt8] = []
        var stdinOffset = 0
        var open: [Int32: Bool] = [stdoutFD: true, stderrFD: true, reportFD: true]
        var stdinOpen = true
        if stdin.isEmpty { close(stdinFD); stdinOpen = false }
        var reapedAt: ContinuousClock.Instant?
        var waitStatus: Int32 = 0
        var deadlineFired = false
        var buffer = [UInt8](repeating: 0, count: 65536)

        func reapIfExited() {
            guard reapedAt == nil else { return }
            var status: Int32 = 0
            let got = process.state.withLock { state -> pid_t in
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid { state.reaped = true }
                return r
            }
            if got == pid {
                waitStatus = status
                reapedAt = clock.now
            }
        }

        while true {
            reapIfExited()
            let streamsOpen = open.values.contains(true)
            if let reapedAt {
                // Wait for exit, not EOF: once the process is gone, drain briefly and stop.
                if !streamsOpen || clock.now - reapedAt > .milliseconds(200) { break }
            }
            if let deadline, !deadlineFired, reapedAt == nil, clock.now - start > .milliseconds(Int64(deadline * 1000)) {
                deadlineFired = true
                if let onDeadline { onDeadline(process) } else { process.stop(.deadline) }
            }
            if deadlineFired, reapedAt == nil, let deadline, clock.now - start > .milliseconds(Int64(deadline * 1000) + 2000) {
                process.stop(.deadline, signal: SIGKILL)
            }
            var fds: [pollfd] = []
            for (fd, isOpen) in open where isOpen { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if stdinOpen { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if pidfd >= 0 && reapedAt == nil { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
            let timeout: Int32 = reapedAt != nil ? 20 : (pidfd >= 0 ? 100 : 10)
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { break }
            for entry in fds where entry.revents != 0 {
                if entry.fd == stdinFD && stdinOpen {
                    let n = stdin.withUnsafeBytes { write(stdinFD, $0.baseAddress! + stdinOffset, $0.count - stdinOffset) }
                    if n > 0 { stdinOffset += n }
                    if n < 0 && errno != EAGAIN && errno != EINTR || stdinOffset >= stdin.count {
                        close(stdinFD)
                        stdinOpen = false
                    }
                    continue
                }
                guard open[entry.fd] == true else { continue }
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
                    open[entry.fd] = false
                    continue
                }
                guard n > 0 else { continue }
                let chunk = buffer[0..<n]
                if entry.fd == reportFD {
                    report += chunk
                } else if entry.fd == stdoutFD {
                    append(chunk, to: &outcome.stdout, truncated: &outcome.stdoutTruncated, limit: outputLimit, process: process)
                } else {
                    append(chunk, to: &outcome.stderr, truncated: &outcome.stderrTruncated, limit: outputLimit, process: process)
                }
            }
        }
        if reapedAt == nil {
            // Poll failed: make sure the process is gone before returning.
            process.stop(.deadline, signal: SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            process.state.withLock { $0.reaped = true }
            waitStatus = status
        }
        // The launcher leads its own process group (setsid). Had it been killed from outside, the
        // program's processes would outlive it (the parent-death signal reaches only its direct
        // child): kill what is left of the group. After a normal end the group is already empty,
        // and its id cannot be reused while any member lives.
        _ = kill(-pid, SIGKILL)
        outcome.waitStatus = waitStatus
        if stdinOpen { close(stdinFD) }
        for fd in [stdoutFD, stderrFD, reportFD] { close(fd) }
        if pidfd >= 0 { close(pidfd) }
        outcome.seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
        for line in String(decoding: report, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            // The first `error=` is the cause; later lines may add nothing to it.
            if outcome.report[key] == nil { outcome.report[key] = String(line[line.index(after: equals)...]) }
        }
        outcome.stopReason = process.stopReason
        return outcome
    }

    private static func append(_ chunk: ArraySlice<UInt8>, to stream: inout [UInt8], truncated: inout Bool, limit: Int, process: ChildProcess) {
        guard !truncated else { return }
        let room = limit - stream.count
        if chunk.count <= room {
            stream += chunk
        } else {
            stream += chunk.prefix(max(0, room))
            truncated = true
            process.stop(.output)
        }
    }
}

/// Runs `body` with a NULL-terminated array of C strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
