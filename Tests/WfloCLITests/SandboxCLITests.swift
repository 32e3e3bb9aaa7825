import Foundation
import Testing
import WfloCore

/// `wflo run` with a sandbox step, `wflo sandbox run` and `wflo sandbox check`, as a user runs them.
@Suite(.timeLimit(.minutes(1)))
struct SandboxCLITests {
    static func withWflo<T>(_ body: (WfloProcess, URL) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-cli-sandbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "WFLO_DB": directory.appendingPathComponent("wflo.db").path,
            "OPENAI_API_KEY": "sk-must-not-reach-the-sandbox",
        ])
        return try await body(wflo, directory)
    }

    @Test func runAWorkflowWithASandboxStep() async throws {
        try await Self.withWflo { wflo, directory in
            let file = directory.appendingPathComponent("compute.yaml")
            try """
                name: compute
                budget: 0
                inputs:
                  n: {type: integer, default: 10}
                steps:
                  - id: compute
                    type: sandbox
                    language: python
                    code: |
                      import os
                      print(sum(range({{inputs.n}})), "OPENAI_API_KEY" in os.environ)
                    limits: {wall: 5s, memory: 256MiB, output: 64KiB}
                  - id: fail
                    type: sandbox
                    language: bash
                    code: "echo oops >&2; exit 3"
                    allow_failure: true
                outputs:
                  total: "{{steps.compute.output.stdout}}"
                  code: "{{steps.fail.output.exit_code}}"
                """.write(to: file, atomically: true, encoding: .utf8)
            let run = try await wflo.run(["run", file.path, "--json", "--input", "n=5"])
            #expect(run.status == 0, "\(run.stderr)")
            let json = try JSONValue.parse(run.stdout)
            #expect(json["status"] == "completed")
            #expect(json["outputs"]?["total"] == "10 False\n")
            #expect(json["outputs"]?["code"] == .int(3))
        }
    }

    @Test func aKilledProgramFailsTheRunWithoutCrashingWflo() async throws {
        try await Self.withWflo { wflo, directory in
            let file = directory.appendingPathComponent("loop.yaml")
            try """
                name: loop
                budget: 0
                steps:
                  - id: spin
                    type: sandbox
                    language: bash
                    code: "while :; do :; done"
                    limits: {wall: 1s}
                """.write(to: file, atomically: true, encoding: .utf8)
            let run = try await wflo.run(["run", file.path])
            #expect(run.status == 1, "\(run.stdout) \(run.stderr)")
            #expect(!run.killedBySignal)
            #expect((run.stdout + run.stderr).contains("killed: wall time limit reached"), "\(run.stdout) \(run.stderr)")
        }
    }

    @Test func sandboxRunPassesOutputAndStatusThrough() async throws {
        try await Self.withWflo { wflo, _ in
            let ok = try await wflo.run(["sandbox", "run", "--wall", "5s", "--", "bash", "-c", "echo out; echo err >&2; exit 7"])
            #expect(ok.status == 7)
            #expect(ok.stdout == "out\n")
            #expect(ok.stderr == "err\n")
            let json = try await wflo.run(["sandbox", "run", "--json", "--output", "1KiB", "--", "yes"])
            #expect(json.status == 128 + 15 || json.status == 128 + 13 || json.status == 128 + 9, "\(json.stdout) \(json.stderr)")
            let result = try JSONValue.parse(json.stdout)
            #expect(result["killed_reason"] == "output")
            #expect(result["stdout_truncated"] == true)
            let bad = try await wflo.run(["sandbox", "run", "--memory", "lots", "--", "true"])
            #expect(bad.status == 2 && bad.stderr.contains("--memory must be a size"), "\(bad.stderr)")
        }
    }

    @Test func noVariableOfTheRunnersEnvironmentLeaksIn() async throws {
        try await Self.withWflo { wflo, _ in
            let run = try await wflo.run(["sandbox", "run", "--", "python3", "-c", "import os; print('\\n'.join(sorted(os.environ)))"],
                                         extraEnvironment: ["OPENAI_API_KEY": "sk-test-should-not-leak", "WFLO_SECRET_TOKEN": "secret-should-not-leak",
                                                            "ANTHROPIC_API_KEY": "sk-ant-should-not-leak"])
            #expect(run.status == 0, "\(run.stderr)")
            let names = Set(run.stdout.split(separator: "\n").map(String.init))
            #expect(names.isSubset(of: ["HOME", "LANG", "PATH", "TMPDIR", "LC_CTYPE"]), "\(run.stdout)")
            #expect(!run.output.contains("should-not-leak") && !run.output.contains("API_KEY") && !run.output.contains("SECRET"))
        }
    }

    @Test func sandboxCheckNamesEveryLayer() async throws {
        try await Self.withWflo { wflo, _ in
            let check = try await wflo.run(["sandbox", "check", "--json"])
            #expect(check.status == 0, "\(check.stderr)")
            let layers = try #require(JSONValue.parse(check.stdout).arrayValue)
            #expect(Set(layers.compactMap { $0["layer"]?.stringValue }) == ["landlock", "seccomp", "uid", "namespaces", "docker"])
            let docker = layers.first { $0["layer"] == "docker" }
            if docker?["works"] == false {
                #expect(docker?["detail"]?.stringValue?.contains("use backend: process or namespaces") == true)
            }
        }
    }
}
