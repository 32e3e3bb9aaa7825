import Foundation
import Testing
import WfloCore
@testable import WfloSandbox
#if canImport(Glibc)
import Glibc
#endif

/// Long-lived programs talked to through their pipes (MCP stdio servers), under the real launcher.
@Suite(.timeLimit(.minutes(1)))
struct SessionTests {
    @Test func aSessionAnswersLineByLineAndStopEndsItsWholeTree() async throws {
        // A sleep of its own length, so another test run on the machine cannot be mistaken for it.
        let sleeper = "sleep \(Int.random(in: 3_000_000...3_999_999))"
        let session = try Sandbox().start(SandboxRequest(
            command: ["/bin/sh", "-c", "\(sleeper) & while read line; do echo \"got $line\"; done"],
            policy: SandboxPolicy(limits: SandboxLimits(wall: 30))))
        var lines = session.lines.makeAsyncIterator()
        try session.write(Array("one\n".utf8), timeout: 5)
        #expect(await lines.next() == "got one")
        try session.write(Array("two\n".utf8), timeout: 5)
        #expect(await lines.next() == "got two")
        #expect(!session.hasEnded)
        await session.stop()
        #expect(session.hasEnded)
        #expect(await lines.next() == nil, "stdout closed")
        // The background sleep died with the tree. A SIGKILL is delivered asynchronously: the
        // process may still be listed for a moment after stop() returns (CI saw it once), so allow 5 s.
        var lingering = Self.processExists(commandContaining: sleeper)
        for _ in 0..<50 where lingering {
            try await Task.sleep(for: .milliseconds(100))
            lingering = Self.processExists(commandContaining: sleeper)
        }
        #expect(!lingering)
        #expect(throws: SandboxError.self) { try session.write(Array("three\n".utf8), timeout: 1) }
    }

    @Test func readOnlyPathsAreReadableAndNothingElseOutsideTheScratch() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-ro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: folder) }
        try "visible\n".write(to: folder.appendingPathComponent("data.txt"), atomically: true, encoding: .utf8)
        chmod(folder.appendingPathComponent("data.txt").path, 0o644)
        let script = "cat \(folder.path)/data.txt; echo x > \(folder.path)/new.txt || echo write-denied"
        var policy = SandboxPolicy(limits: SandboxLimits(wall: 10))
        let without = try await Sandbox().run(SandboxRequest(command: ["/bin/sh", "-c", script], policy: policy))
        #expect(!without.stdoutText.contains("visible"), "\(without.stdoutText) \(without.stderrText)")
        policy.readOnly = [folder.path]
        let with = try await Sandbox().run(SandboxRequest(command: ["/bin/sh", "-c", script], policy: policy))
        #expect(with.stdoutText.contains("visible"), "\(with.stdoutText) \(with.stderrText)")
        #expect(with.stdoutText.contains("write-denied"), "read-only: \(with.stdoutText)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("new.txt").path))
    }

    @Test func aReadOnlyPathThatDoesNotExistFailsTheStartNamingIt() async throws {
        var policy = SandboxPolicy(limits: SandboxLimits(wall: 10))
        policy.readOnly = ["/nonexistent/wflo-venv"]
        let session = try Sandbox().start(SandboxRequest(command: ["/bin/true"], policy: policy))
        var lines = session.lines.makeAsyncIterator()
        #expect(await lines.next() == nil)
        while !session.hasEnded { try await Task.sleep(for: .milliseconds(20)) }
        #expect(session.endDescription?.contains("/nonexistent/wflo-venv") == true, "\(session.endDescription ?? "")")
    }

    static func processExists(commandContaining text: String) -> Bool {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            if String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text) { return true }
        }
        return false
    }
}
