import ArgumentParser
import Foundation

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

enum Console {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Runs `body`; prints any error as `error: …` and turns it into the documented exit code.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
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
