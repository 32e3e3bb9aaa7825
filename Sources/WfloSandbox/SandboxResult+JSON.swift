import Foundation
import WfloCore

extension SandboxResult {
    /// The result as a sandbox step's output (and `wflo sandbox run --json`): `stdout`, `stderr`,
    /// `exit_code`, `signal`, `timed_out`, `killed_reason`, `ok`, `duration_seconds`,
    /// `cpu_seconds`, `max_memory_bytes`, `stdout_truncated`, `stderr_truncated`, `files`
    /// (path → text, null when not collected, with `file_errors` saying why) and `backend`.
    public var json: JSONValue {
        var collected: [String: JSONValue] = [:]
        var problems: [String: JSONValue] = [:]
        for file in files {
            if let contents = file.contents, let text = String(validating: contents, as: UTF8.self) {
                collected[file.path] = .string(text)
            } else {
                collected[file.path] = .null
                problems[file.path] = .string(file.problem ?? "not UTF-8 text (\(file.contents?.count ?? 0) bytes)")
            }
        }
        var object: [String: JSONValue] = [
            "stdout": .string(stdoutText),
            "stderr": .string(stderrText),
            "exit_code": exitCode.map(JSONValue.int) ?? .null,
            "signal": signal.map { .string(SandboxResult.signalName($0)) } ?? .null,
            "timed_out": .bool(timedOut),
            "killed_reason": killedReason.map { .string($0.rawValue) } ?? .null,
            "ok": .bool(succeeded),
            "duration_seconds": .double(duration),
            "cpu_seconds": cpuSeconds.map(JSONValue.double) ?? .null,
            "max_memory_bytes": maxResidentBytes.map(JSONValue.int) ?? .null,
            "stdout_truncated": .bool(stdoutTruncated),
            "stderr_truncated": .bool(stderrTruncated),
            "files": .object(collected),
            "backend": .string(backend.rawValue),
        ]
        if !problems.isEmpty { object["file_errors"] = .object(problems) }
        return .object(object)
    }
}
