import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore

/// sandbox steps through the executor, with the real launcher and a real journal.
@Suite(.timeLimit(.minutes(1)))
struct SandboxStepTests {
    @Test func theContractWorkflowCompletesWithTheProgramsOutput() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: compute
                steps:
                  - id: compute
                    type: sandbox
                    language: python
                    code: |
                      print(sum(range(10)))
                    limits: {wall: 5s, memory: 256MiB, output: 64KiB}
                outputs:
                  total: "{{steps.compute.output.stdout}}"
                """)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["total"] == "45\n")
            let journal = try await h.store.journal(runID: result.runID)
            let step = try #require(journal.steps.first { $0.stepID == "compute" })
            #expect(step.status == .completed && step.type == .sandbox)
            let output = try #require(step.output)
            #expect(output["stdout"] == "45\n")
            #expect(output["stderr"] == "")
            #expect(output["exit_code"] == .int(0))
            #expect(output["timed_out"] == false)
            #expect(output["killed_reason"] == .null)
            #expect(journal.attempts.map(\.status) == [.succeeded])
        }
    }

    @Test func aFailingProgramFailsTheStepWithItsOutputRecorded() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: fails
                steps:
                  - id: crash
                    type: sandbox
                    language: python
                    code: |
                      import sys
                      print("partial work")
                      sys.exit("the input was bad")
                  - id: after
                    type: transform
                    output: {never: "{{steps.crash.output.stdout}}"}
                """)
            #expect(result.status == .failed)
            #expect(result.error?.contains("step 'crash' failed: sandboxed program exited with status 1: the input was bad") == true,
                    "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            let step = try #require(journal.steps.first { $0.stepID == "crash" })
            #expect(step.status == .failed)
            #expect(step.output?["stdout"] == "partial work\n")
            #expect(step.output?["exit_code"] == .int(1))
            #expect(step.output?["stderr"] == "the input was bad\n")
            #expect(!journal.steps.contains { $0.stepID == "after" && $0.status == .completed })
        }
    }

    @Test func allowFailureCompletesTheStepSoLaterStepsCanBranchOnIt() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: tolerant
                steps:
                  - id: try
                    type: sandbox
                    language: bash
                    code: "echo trying; exit 4"
                    allow_failure: true
                  - id: report
                    type: transform
                    output: {code: "{{steps.try.output.exit_code}}", ok: "{{steps.try.output.ok}}"}
                outputs:
                  report: "{{steps.report.output}}"
                """)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["report"] == ["code": .int(4), "ok": false])
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.first { $0.stepID == "try" }?.status == .completed)
            #expect(journal.attempts.first?.status == .failed, "the attempt still says the program failed")
        }
    }

    /// `allow_failure` applies once the retries are spent, as for every other step type.
    @Test func allowFailureStillRetriesFirst() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: tolerant
                steps:
                  - id: try
                    type: sandbox
                    language: bash
                    code: "echo trying; exit 4"
                    retry: {maximum_attempts: 3, initial_interval: 0s}
                    allow_failure: true
                outputs:
                  code: "{{steps.try.output.exit_code}}"
                """)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["code"] == .int(4))
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.map(\.status) == [.failed, .failed, .failed])
        }
    }

    /// Steps the scheduler runs itself (a switch, a for_each, a broken `if:`) honour
    /// `allow_failure` too; a for_each's failed items are still counted as failed.
    @Test func allowFailureCoversSwitchesForEachAndConditions() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: tolerant
                inputs:
                  xs: {type: array, default: [{n: 1}, {m: 2}]}
                steps:
                  - id: pick
                    type: switch
                    value: "nothing"
                    cases: {a: after}
                    allow_failure: true
                  - id: after
                    type: transform
                    output: 1
                  - id: each
                    type: transform
                    for_each: {items: "{{inputs.xs}}", item_var: x}
                    output: "{{for_each.x.n}}"
                    allow_failure: true
                  - id: keep
                    type: transform
                    for_each: {items: "{{inputs.xs}}", item_var: x, fail_fast: false}
                    output: "{{for_each.x.n}}"
                    allow_failure: true
                outputs:
                  pick: "{{steps.pick.output.failed}}"
                  each: "{{steps.each.output.failed}}"
                  keep: "{{steps.keep.output.failed}}"
                """)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["pick"] == true)
            #expect(result.outputs?["each"] == true)
            #expect(result.outputs?["keep"] == .int(1), "the failed item is counted, not hidden")
        }
    }

    @Test func aProgramPastItsWallLimitIsKilledAndTheStepSaysSo() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: slow
                steps:
                  - id: loop
                    type: sandbox
                    language: python
                    code: "while True: pass"
                    limits: {wall: 1s}
                """)
            #expect(result.status == .failed)
            #expect(result.error?.contains("killed: wall time limit reached") == true, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            let output = try #require(journal.steps.first { $0.stepID == "loop" }?.output)
            #expect(output["timed_out"] == true)
            #expect(output["killed_reason"] == "wall")
            #expect(output["exit_code"] == .null)
        }
    }

    @Test func templatesFilesEnvironmentStdinAndOutputsReachTheProgram() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: plumbing
                inputs:
                  word: {default: hello}
                steps:
                  - id: prep
                    type: transform
                    output: {n: 3}
                  - id: work
                    type: sandbox
                    command: [bash, job.sh, "{{inputs.word}}"]
                    files:
                      job.sh: |
                        read line
                        echo "$1 $GREETING $line" > out/result.txt
                        cat data/n.txt
                      data/n.txt: "{{steps.prep.output.n}}"
                      out/.keep: ""
                    env: {GREETING: "{{inputs.word}}-env"}
                    stdin: "from stdin\\n"
                    outputs: [out/result.txt, out/absent.txt]
                outputs:
                  file: "{{steps.work.output.files}}"
                  stdout: "{{steps.work.output.stdout}}"
                """, inputs: ["word=hi"])
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["stdout"] == "3")
            #expect(result.outputs?["file"] == ["out/result.txt": "hi hi-env from stdin\n", "out/absent.txt": .null])
        }
    }

    @Test func allowFailureAppliesToEveryStepType() async throws {
        try await Harness.with { h in
            // The harness's executor has no HTTP client, so this http step fails.
            let result = try await h.run("""
                name: any-step
                egress: {allow: ["127.0.0.1"]}
                steps:
                  - id: call
                    type: http
                    url: http://127.0.0.1:9/x
                    allow_failure: true
                outputs:
                  failed: "{{steps.call.output.failed}}"
                """)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["failed"] == true)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.events.contains { $0.kind == .stepFailureAllowed && $0.stepID == "call" })
        }
    }

    static let nodeInstalled = ["/usr/local/bin/node", "/usr/bin/node"].contains { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(arguments: [("python", "print(6 * 7)"), ("bash", "echo $((6 * 7))"), ("node", "console.log(6 * 7)")])
    func everyLanguageRunsItsCode(language: String, code: String) async throws {
        if language == "node" && !Self.nodeInstalled {
            // `node where installed`: say so instead of passing silently.
            Issue.record("node is not installed here (apt-get install nodejs); the node case was not run")
            return
        }
        try await Harness.with { h in
            let result = try await h.run("""
                name: lang
                steps:
                  - id: run
                    type: sandbox
                    language: \(language)
                    code: '\(code)'
                outputs:
                  out: "{{steps.run.output.stdout}}"
                """)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["out"] == "42\n")
        }
    }
}
