import ArgumentParser
import Foundation
import Synchronization
import WfloApp
#if canImport(Glibc)
import Glibc
#endif

/// An error the CLI prints as `error: …` on standard error before exiting with `exitCode`.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    var description: String { message }
}

/// Standard output and error for people. A closed reader (`wflo run … | head -1`) must not
/// stop or corrupt a run: SIGPIPE is ignored process-wide (the sandbox needs it), so a write
/// to a closed pipe fails with EPIPE; the stream is then marked closed and later text dropped.
enum Console {
    private static let closed = Mutex<Set<Int32>>([])

    static func out(_ text: String) { write(Data(text.utf8), to: STDOUT_FILENO) }

    static func err(_ text: String) { write(Data(text.utf8), to: STDERR_FILENO) }

    static func out(_ data: Data) { write(data, to: STDOUT_FILENO) }

    static func err(_ data: Data) { write(data, to: STDERR_FILENO) }

    /// Whether a write to `descriptor` found its reader gone.
    static func isClosed(_ descriptor: Int32) -> Bool { closed.withLock { $0.contains(descriptor) } }

    private static func write(_ data: Data, to descriptor: Int32) {
        if data.isEmpty || isClosed(descriptor) { return }
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                #else
                let written = Darwin.write(descriptor, base + offset, buffer.count - offset)
                #endif
                if written >= 0 { offset += written; continue }
                if errno == EINTR || errno == EAGAIN { continue }
                // EPIPE (reader gone) or another error: stop printing to this stream, keep running.
                _ = closed.withLock { $0.insert(descriptor) }
                return
            }
        }
    }
}

/// Runs `body`; prints any error as `error: …` and turns it into the documented exit code.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as AppError {
        Console.err(error.message.contains(": error: ") ? error.message + "\n" : "error: \(error.message)\n")
        throw ExitCode(error.exitCode)
    } catch let error as CLIError {
        // Validation output is already "file:line:col: error: …" lines.
        Console.err(error.message.contains(": error: ") ? error.message + "\n" : "error: \(error.message)\n")
        throw ExitCode(error.exitCode)
    } catch let error as ValidationError {
        throw error
    } catch {
        Console.err("error: \(error)\n")
        throw ExitCode(1)
    }
}
