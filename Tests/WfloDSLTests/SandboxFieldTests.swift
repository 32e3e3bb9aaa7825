import Foundation
import Testing
import WfloCore
import WfloDSL

@Suite struct SandboxFieldTests {
    func parse(_ yaml: String, file: String = "w.yaml") throws -> WorkflowDefinition {
        try WorkflowParser().parse(yaml: yaml, file: file)
    }

    func problems(_ yaml: String) -> [String] {
        diagnostics(yaml).map(\.description)
    }

    /// A one-step workflow whose step has `fields` (indented as step fields).
    func step(_ fields: String) -> String {
        "name: w\ninputs:\n  n: {default: 3}\nsteps:\n  - id: run\n    type: sandbox\n" + fields.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
    }

    @Test func theIssuesContractParses() throws {
        let definition = try parse("""
            name: w
            steps:
              - id: compute
                type: sandbox
                language: python
                code: |
                  print(sum(range(10)))
                limits: {wall: 5s, memory: 256MiB, output: 64KiB}
            """)
        let compute = try #require(definition.step("compute")?.sandbox)
        #expect(compute.language == .python)
        #expect(compute.code?.source == "print(sum(range(10)))\n")
        #expect(compute.limits == SandboxLimits(wall: 5, memory: 256 << 20, output: 64 << 10))
        #expect(compute.network == .off)
        #expect(compute.backend == .process)
        #expect(definition.step("compute")?.allowFailure == false)
    }

    @Test func everyFieldIsRead() throws {
        let definition = try parse(step("""
            command: [python3, tool.py, "--n={{inputs.n}}"]
            stdin: "{{inputs.n}} items"
            files: {tool.py: "print(1)", data/in.csv: "a,b"}
            outputs: [out/result.json, log.txt]
            env: {MODE: fast, COUNT: "{{inputs.n}}"}
            limits: {wall: 1m, cpu: 500ms, memory: 1GiB, output: 1MB, processes: 8, file_size: 2MiB, open_files: 32}
            network: {connect: [443, 8080], bind: 9000}
            backend: namespaces
            allow_missing: [landlock-net, uid]
            allow_failure: true
            """))
        let step = try #require(definition.step("run"))
        let sandbox = try #require(step.sandbox)
        #expect(step.allowFailure)
        #expect(step.allDependencies.isEmpty)
        #expect(sandbox.command?.map(\.source) == ["python3", "tool.py", "--n={{inputs.n}}"])
        #expect(sandbox.stdin?.references == [["inputs", "n"]])
        #expect(sandbox.files.map(\.path) == ["tool.py", "data/in.csv"])
        #expect(sandbox.outputs == ["out/result.json", "log.txt"])
        #expect(sandbox.environment.map(\.name) == ["MODE", "COUNT"])
        #expect(sandbox.limits == SandboxLimits(wall: 60, cpu: 0.5, memory: 1 << 30, output: 1_000_000, processes: 8,
                                                 fileSize: 2 << 20, openFiles: 32))
        #expect(sandbox.network == .tcp(connect: [443, 8080], bind: [9000]))
        #expect(sandbox.backend == .namespaces)
        #expect(sandbox.allowMissing == [.landlockNet, .uid])
    }

    @Test(arguments: [("network: true", SandboxNetwork.any), ("network: false", .off)])
    func networkFlags(line: String, expected: SandboxNetwork) throws {
        let definition = try parse(step("language: bash\ncode: echo hi\n" + line))
        #expect(definition.step("run")?.sandbox?.network == expected)
    }

    @Test func scriptIsReadRelativeToTheWorkflow() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-dsl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "print('{{not a template}}')\n".write(to: folder.appendingPathComponent("job.py"), atomically: true, encoding: .utf8)
        let definition = try parse(step("language: python\nscript: job.py"), file: folder.appendingPathComponent("w.yaml").path)
        let sandbox = try #require(definition.step("run")?.sandbox)
        #expect(sandbox.code?.source == "print('{{not a template}}')\n", "a script is taken as written, not templated")
        #expect(sandbox.scriptPath == "job.py")
        #expect(problems(step("language: python\nscript: missing.py")).first?.contains("cannot read the script") == true)
    }

    @Test func allowFailureIsReadForEveryStepType() throws {
        let definition = try parse("""
            name: w
            steps:
              - id: t
                type: transform
                output: {a: 1}
                allow_failure: true
            """)
        #expect(definition.step("t")?.allowFailure == true)
        #expect(problems("name: w\nsteps:\n  - id: t\n    type: transform\n    output: 1\n    allow_failure: maybe\n")
                == ["w.yaml:6:20: error: step 't': 'allow_failure' must be true or false, not 'maybe'"])
    }

    /// Bad input, the place it is reported at (file:line:col), and words the message must hold.
    static let badInputs: [(fields: String, at: String, says: String)] = [
        ("code: print(1)", "w.yaml:5:5", "needs 'language'"),
        ("language: ruby\ncode: x", "w.yaml:7:15", "unknown language 'ruby'"),
        ("language: python", "w.yaml:5:5", "'language' needs 'code'"),
        ("language: python\ncode: x\nscript: y.py", "w.yaml:9:5", "either 'code'"),
        ("language: python\ncommand: [x]\ncode: y", "w.yaml:8:5", "either 'language'"),
        ("command: python3 -c 1", "w.yaml:7:14", "must be a list"),
        ("command: []", "w.yaml:7:14", "non-empty list"),
        ("language: bash\ncode: x\nlimits: {wall: soon}", "w.yaml:9:20", "'wall' must be a duration"),
        ("language: bash\ncode: x\nlimits: {memory: lots}", "w.yaml:9:22", "'memory' must be a size"),
        ("language: bash\ncode: x\nlimits: {memory: 1MiB}", "w.yaml:9:22", "at least 16MiB"),
        ("language: bash\ncode: x\nlimits: {processes: 0}", "w.yaml:9:25", "positive whole number"),
        ("language: bash\ncode: x\nlimits: {open_files: 3}", "w.yaml:9:26", "at least 8"),
        ("language: bash\ncode: x\nlimits: {wal: 5s}", "w.yaml:9:14", "unknown field 'wal'"),
        ("language: bash\ncode: x\nnetwork: {connect: [example.com]}", "w.yaml:9:25", "not a TCP port"),
        ("language: bash\ncode: x\nnetwork: yes please", "w.yaml:9:14", "'network' must be false"),
        ("language: bash\ncode: x\nbackend: vm", "w.yaml:9:14", "unknown backend 'vm'"),
        ("language: bash\ncode: x\nallow_missing: [apparmor]", "w.yaml:9:20", "unknown layer 'apparmor'"),
        ("language: bash\ncode: x\nfiles: {/etc/passwd: x}", "w.yaml:9:13", "is absolute"),
        ("language: bash\ncode: x\nfiles: {../up.txt: x}", "w.yaml:9:13", "'..' component"),
        ("language: bash\ncode: x\nfiles: {main.sh: x}", "w.yaml:9:13", "where 'code' is written"),
        ("language: bash\ncode: x\noutputs: [/tmp/x]", "w.yaml:9:14", "is absolute"),
        ("language: bash\ncode: x\nenv: {1BAD: x}", "w.yaml:9:11", "not a variable name"),
        ("language: bash\ncode: \"{{steps.nowhere.output}}\"", "w.yaml:8:12", "nowhere"),
        ("language: bash\ncode: \"{{secrets.TOKEN}}\"", "w.yaml:8:12", "secrets are only for http steps"),
        ("language: bash\ncode: x\nurl: http://x", "w.yaml:9:5", "'url' is a field of http steps"),
    ]

    @Test(arguments: badInputs.indices)
    func badInputIsReportedWithItsPlace(index: Int) {
        let bad = Self.badInputs[index]
        let found = problems(step(bad.fields))
        #expect(found.contains { $0.hasPrefix(bad.at + ": error: ") && $0.contains(bad.says) },
                "expected '\(bad.says)' at \(bad.at), got \(found)")
    }
}
