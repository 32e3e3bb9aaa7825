import Foundation
import Synchronization
import WfloTesting
#if canImport(Glibc)
import Glibc
#endif

/// A real pseudo-terminal: the child sees a terminal on stdin, stdout and stderr (isatty is
/// true), the test reads what a person would see and types what a person would type.
final class PseudoTerminal: Sendable {
    let process: SpawnedProcess
    private let master: Int32
    private final class Screen: Sendable {
        let text = Mutex("")
    }
    private let screen = Screen()

    init(executable: URL, arguments: [String], environment: [String: String], directory: URL) throws {
        var master: Int32 = -1, slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        self.master = master
        // Neither end may leak into children other tests spawn meanwhile.
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        do {
            process = try SpawnedProcess(executable: executable.path, arguments: arguments, environment: environment,
                                         directory: directory.path, standardInput: slave, output: .descriptor(slave))
        } catch {
            close(slave)
            close(master)
            throw error
        }
        close(slave)
        let screen = self.screen
        let reader = master
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(reader, &buffer, buffer.count)
                if n <= 0 { break }
                let text = String(decoding: buffer[0..<n], as: UTF8.self)
                screen.text.withLock { $0 += text }
            }
        }
    }

    deinit { close(master) }

    /// Everything printed so far, with the terminal's CR LF turned back into LF.
    var text: String { screen.text.withLock { $0 }.replacingOccurrences(of: "\r\n", with: "\n") }

    /// Waits until the screen shows `needle` (true), or `seconds` pass (false).
    func waitFor(_ needle: String, seconds: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if text.contains(needle) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return text.contains(needle)
    }

    /// Types a line, as a person pressing Enter.
    func type(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count) }
    }

    /// Waits for the process to end; returns its exit status.
    func wait(seconds: Double = 60) async -> Int32? {
        await process.wait(seconds: seconds)?.status
    }
}
