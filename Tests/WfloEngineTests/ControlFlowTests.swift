import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore
import WfloTesting

/// Issue 8: if, switch, for_each, sub-workflows, durable sleep, cancellation and the run timeout,
/// against a real SQLite journal and the loopback LLM server.
@Suite(.timeLimit(.minutes(1)))
struct ControlFlowTests {
    /// The contract workflow of the issue, with the test table's model.
    static let contract = """
        name: contract
        budget: 1.00
        inputs:
          topics: {type: array, default: ["a", "b", "c", "d"]}
          mode: {type: string, default: "short"}
        steps:
          - id: summaries
            type: llm
            for_each: {items: "{{inputs.topics}}", item_var: topic, max_parallel: 2}
            model: test-gpt
            prompt: "Summarize {{for_each.topic}} (item {{for_each.index}})"
            max_tokens: 50
          - id: long_form
            type: llm
            if: "{{inputs.mode}} == 'full'"
            model: test-gpt
            prompt: "Write the long form"
            max_tokens: 50
          - id: after_long
            type: transform
            output: "{{steps.long_form.output.text}}"
        outputs:
          first: "{{steps.summaries.output.items.0.text}}"
          count: "{{steps.summaries.output.count}}"
          long: "{{steps.long_form.output.text}}"
        """

    @Test func forEachCollectsItemsInOrderAndAFalseIfSkipsWithItsDependents() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.contract)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let prompts = h.server.requests().compactMap(\.lastUserMessage).sorted()
            #expect(prompts == ["Summarize a (item 0)", "Summarize b (item 1)", "Summarize c (item 2)", "Summarize d (item 3)"])
            #expect(result.outputs?["first"] == "Echo: Summarize a (item 0)")
            #expect(result.outputs?["count"] == .int(4))
            #expect(result.outputs?["long"] == .null)

            let journal = try await h.store.journal(runID: result.runID)
            func step(_ id: String) -> StepRecord? { journal.steps.first { $0.stepID == id } }
            #expect(step("summaries")?.status == .completed)
            let items = try #require(step("summaries")?.output?["items"]?.arrayValue)
            #expect(items.map { $0["text"]?.stringValue } == ["Echo: Summarize a (item 0)", "Echo: Summarize b (item 1)",
                                                              "Echo: Summarize c (item 2)", "Echo: Summarize d (item 3)"])
            #expect(step("summaries")?.output?["succeeded"] == .int(4))
            #expect((0..<4).allSatisfy { step("summaries[\($0)]")?.status == .completed })
            // Each item was charged on its own.
            #expect(Set(journal.attempts.map(\.stepID)) == ["summaries[0]", "summaries[1]", "summaries[2]", "summaries[3]"])
            #expect(step("long_form")?.status == .skipped)
            #expect(step("long_form")?.output?["reason"]?.stringValue == "if: {{inputs.mode}} == 'full' is false")
            #expect(step("after_long")?.status == .skipped)
            #expect(step("after_long")?.output?["reason"]?.stringValue?.contains("depends on 'long_form', which was skipped") == true)
            #expect(journal.events.contains { $0.kind == .stepSkipped && $0.stepID == "long_form" })
        }
    }

    @Test func aTrueIfRuns() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.contract, inputs: ["mode=full", "topics=[\"x\"]"])
            #expect(result.status == .completed)
            #expect(result.outputs?["long"] == "Echo: Write the long form")
        }
    }

    @Test func maxParallelBoundsTheItemsInFlight() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "Summarize", .hang)
            let running = Task { try await h.run(Self.contract) }
            await h.server.waitForRequests(2)
            try await Task.sleep(for: .milliseconds(300))
            // Two items hang; the other two wait for a free slot.
            #expect(h.server.requestCount == 2)
            running.cancel()
            _ = try? await running.value
        }
    }

    @Test func budgetRunsOutInTheMiddleOfAForEachKeepingWhatFinished() async throws {
        try await Harness.with { h in
            let yaml = Self.contract.replacingOccurrences(of: "max_parallel: 2", with: "max_parallel: 1")
            // Room for one item's worst case: once it settles, the next worst case no longer fits.
            let one = try h.worstCase(prompt: "Summarize a (item 0)", maxTokens: 50)
            let budget = one + Money(string: "0.00000001")!
            let result = try await h.run(yaml, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(result.ledger.committed <= budget)
            #expect(h.server.requestCount == 1)
            let journal = try await h.store.journal(runID: result.runID)
            let completed = journal.steps.filter { $0.stepID.hasPrefix("summaries[") && $0.status == .completed }.map(\.stepID)
            #expect(completed.count == h.server.requestCount)
            #expect(journal.steps.first { $0.stepID == "summaries" }?.status == .budgetExceeded)
            // The items not started were never sent; a resume with more budget runs only those.
            let before = h.server.requestCount
            let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
            let resumed = try await h.executor().resume(runID: result.runID, definition: definition, budget: Money(string: "1")!)
            #expect(resumed.status == .completed)
            #expect(h.server.requestCount == before + (4 - completed.count))
            #expect(resumed.outputs?["count"] == .int(4))
        }
    }

    /// An `if:` that reads the item is decided per item: false items are journaled skipped,
    /// never reserve or send, read null in `items`, are counted in `skipped`, and stay skipped on
    /// a resume. An `if:` that does not read the item still decides the whole step.
    @Test func anIfReadingTheItemSkipsOnlyThoseItems() async throws {
        try await Harness.with { h in
            let yaml = Self.contract
                .replacingOccurrences(of: "max_parallel: 2}", with: "max_parallel: 1}\n    if: \"{{for_each.topic}} != 'b' && {{for_each.index}} != 3\"")
            // Room for the first item only, so the run stops there and a resume does the rest.
            let one = try h.worstCase(prompt: "Summarize a (item 0)", maxTokens: 50)
            let result = try await h.run(yaml, budget: one + Money(string: "0.00000001")!)
            #expect(result.status == .budgetExceeded)
            #expect(h.server.requestCount == 1)
            let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
            let resumed = try await h.executor().resume(runID: result.runID, definition: definition, budget: Money(string: "1")!)
            #expect(resumed.status == .completed, "\(resumed.error ?? "")")
            let prompts = h.server.requests().compactMap(\.lastUserMessage)
            #expect(prompts == ["Summarize a (item 0)", "Summarize c (item 2)"])
            let journal = try await h.store.journal(runID: result.runID)
            let output = try #require(journal.steps.first { $0.stepID == "summaries" }?.output)
            #expect(output["count"] == .int(4))
            #expect(output["succeeded"] == .int(2))
            #expect(output["skipped"] == .int(2))
            #expect(output["failed"] == .int(0))
            #expect(output["items"]?[1] == .null)
            #expect(output["items"]?[3] == .null)
            #expect(output["items"]?[2]?["text"] == "Echo: Summarize c (item 2)")
            let skipped = journal.steps.filter { $0.status == .skipped }.map(\.stepID).sorted()
            #expect(skipped == ["after_long", "long_form", "summaries[1]", "summaries[3]"])
            #expect(journal.steps.first { $0.stepID == "summaries[1]" }?.output?["reason"]?.stringValue?.hasPrefix("if: {{for_each.topic}} != 'b'") == true)
            #expect(!journal.attempts.contains { $0.stepID == "summaries[1]" || $0.stepID == "summaries[3]" })
        }
    }

    @Test func forEachIsOnlyReadableInTheStepsFieldsAndIfNotInItsItems() throws {
        let yaml = Self.contract.replacingOccurrences(of: "items: \"{{inputs.topics}}\"", with: "items: \"{{for_each.topic}}\"")
        #expect { try WorkflowParser().parse(yaml: yaml, file: "test.yaml") } throws: { error in
            "\(error)".contains("{{for_each.…}} is only for the fields and the 'if:' of a step with 'for_each:' (not for its items)")
        }
    }

    /// Invariant 1 inside a for_each: four items start at once against a budget that holds two
    /// worst cases; the reservations are atomic, so exactly two are sent and spend stays ≤ budget.
    @Test func parallelItemsCannotRaceMoreReservationsThanTheBudgetHolds() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "Summarize", try h.replyCostingTheWorstCase(prompt: "Summarize a (item 0)", maxTokens: 50,
                                                                                      after: .milliseconds(300)))
            let yaml = Self.contract.replacingOccurrences(of: "max_parallel: 2", with: "max_parallel: 4")
            let one = try h.worstCase(prompt: "Summarize a (item 0)", maxTokens: 50)
            let budget = one + one + Money(string: "0.00000001")!
            let result = try await h.run(yaml, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(h.server.requestCount == 2)
            #expect(result.ledger.committed <= budget)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.count == 2)
        }
    }

    @Test func failFastFalseRunsEveryItemAndCountsFailures() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "item 1", .error(status: 400))
            let yaml = Self.contract.replacingOccurrences(of: "max_parallel: 2}", with: "max_parallel: 2, fail_fast: false}")
            let result = try await h.run(yaml)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            let output = try #require(journal.steps.first { $0.stepID == "summaries" }?.output)
            #expect(output["succeeded"] == .int(3))
            #expect(output["failed"] == .int(1))
            #expect(output["items"]?[1] == .null)
            #expect(output["errors"]?[0]?["index"] == .int(1))
        }
    }

    @Test func failFastStopsTheStepAndTheRun() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "item 0", .error(status: 400))
            let yaml = Self.contract.replacingOccurrences(of: "max_parallel: 2", with: "max_parallel: 1")
            let result = try await h.run(yaml)
            #expect(result.status == .failed)
            #expect(result.error?.contains("step 'summaries' failed: item 0 failed") == true)
            #expect(h.server.requestCount == 1)
        }
    }

    static let triage = """
        name: triage
        budget: 0.50
        inputs:
          kind: {type: string, default: "bug"}
        steps:
          - id: route
            type: switch
            value: "{{inputs.kind}}"
            cases:
              bug: fix
              feature: [plan, estimate]
            default: [shrug]
          - id: fix
            type: transform
            output: "fixing"
          - id: plan
            type: transform
            output: "planning"
          - id: estimate
            type: transform
            output: "{{steps.plan.output}} then estimating"
          - id: shrug
            type: transform
            output: "no idea"
          - id: reply
            type: transform
            if: "{{steps.fix.status}} == 'completed'"
            output: "done: {{steps.fix.output}}"
        outputs:
          route: "{{steps.route.output.case}}"
          reply: "{{steps.reply.output}}"
        """

    @Test(arguments: [("bug", ["fix", "reply"], ["plan", "estimate", "shrug"]),
                      ("feature", ["plan", "estimate"], ["fix", "shrug", "reply"]),
                      ("question", ["shrug"], ["fix", "plan", "estimate", "reply"])])
    func switchRunsTheChosenCaseAndSkipsTheOthers(kind: String, ran: [String], skipped: [String]) async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.triage, inputs: ["kind=\(kind)"])
            #expect(result.status == .completed, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            for id in ran { #expect(journal.steps.first { $0.stepID == id }?.status == .completed, "\(id)") }
            for id in skipped { #expect(journal.steps.first { $0.stepID == id }?.status == .skipped, "\(id)") }
            #expect(result.outputs?["route"]?.stringValue == (kind == "question" ? "default" : kind))
        }
    }

    @Test func aSwitchWithNoMatchingCaseAndNoDefaultFails() async throws {
        try await Harness.with { h in
            let yaml = Self.triage.replacingOccurrences(of: "    default: [shrug]\n", with: "")
            let result = try await h.run(yaml, inputs: ["kind=other"])
            #expect(result.status == .failed)
            #expect(result.error?.contains("no case matches the value 'other' (cases: 'bug', 'feature') and there is no default") == true)
        }
    }

    // MARK: sub-workflows

    static let child = """
        name: child
        inputs:
          topic: {type: string}
          depth: {type: integer, default: 1}
        steps:
          - id: ask
            type: llm
            model: test-gpt
            prompt: "Child asks about {{inputs.topic}}"
            max_tokens: 20
        outputs:
          answer: "{{steps.ask.output.text}}"
          depth: "{{inputs.depth}}"
        """

    func parent(budgetLine: String = "", forEach: Bool = false) -> String {
        let each = forEach ? "\n    for_each: {items: \"{{inputs.topics}}\", item_var: t}" : ""
        return """
        name: parent
        budget: 0.50
        inputs:
          topics: {type: array, default: ["x", "y"]}
        steps:
          - id: sub
            type: workflow
            workflow: child.yaml\(each)
            inputs: {topic: "\(forEach ? "{{for_each.t}}" : "parent topic")"}\(budgetLine)
          - id: use
            type: transform
            output: "{{steps.sub.output}}"
        outputs:
          result: "{{steps.use.output}}"
        """
    }

    func runFiles(_ h: Harness, parent: String, child: String = ControlFlowTests.child, budget: Money? = nil) async throws -> RunResult {
        try child.write(to: h.directory.appendingPathComponent("child.yaml"), atomically: true, encoding: .utf8)
        let path = h.directory.appendingPathComponent("parent.yaml").path
        try parent.write(toFile: path, atomically: true, encoding: .utf8)
        let (definition, source) = try WorkflowParser().parse(fileAt: path)
        return try await h.executor().start(definition: definition, source: source, path: path,
                                            inputs: try InputBinder.bind(definition, arguments: [], file: nil), budget: budget ?? definition.budget)
    }

    @Test func aSubWorkflowRunsNestedUnderItsStepAndGivesItsOutputs() async throws {
        try await Harness.with { h in
            let result = try await runFiles(h, parent: parent())
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["result"]?["answer"] == "Echo: Child asks about parent topic")
            #expect(result.outputs?["result"]?["depth"] == .int(1))
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.first { $0.stepID == "sub/ask" }?.status == .completed)
            #expect(journal.attempts.map(\.stepID) == ["sub/ask"])
            // The child's text is journaled with the run.
            let started = try #require(journal.events.first { $0.kind == .runStarted })
            #expect(started.data[Executor.workflowSourcesKey]?.objectValue?.values.first?.stringValue == Self.child)
        }
    }

    @Test func aForEachOverASubWorkflowNestsItsItems() async throws {
        try await Harness.with { h in
            let result = try await runFiles(h, parent: parent(forEach: true))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(Set(journal.attempts.map(\.stepID)) == ["sub[0]/ask", "sub[1]/ask"])
            #expect(result.outputs?["result"]?["items"]?[1]?["answer"] == "Echo: Child asks about y")
        }
    }

    @Test func aChildBudgetSmallerThanTheRunsStopsTheChildFirst() async throws {
        try await Harness.with { h in
            let result = try await runFiles(h, parent: parent(budgetLine: "\n    budget: 0.000001"))
            #expect(result.status == .budgetExceeded)
            #expect(result.error?.contains("does not fit the budget $0.000001 of workflow step 'sub'") == true, "\(result.error ?? "")")
            #expect(h.server.requestCount == 0)
        }
    }

    @Test func aWorkflowThatCallsItselfIsRefusedWhenRead() async throws {
        try await Harness.with { h in
            let loop = """
                name: loop
                steps:
                  - id: again
                    type: workflow
                    workflow: parent.yaml
                """
            try loop.write(to: h.directory.appendingPathComponent("child.yaml"), atomically: true, encoding: .utf8)
            let path = h.directory.appendingPathComponent("parent.yaml").path
            try parent().write(toFile: path, atomically: true, encoding: .utf8)
            #expect {
                _ = try WorkflowParser().parse(fileAt: path)
            } throws: { error in
                "\(error)".contains("workflow cycle: parent.yaml → child.yaml → parent.yaml")
            }
        }
    }

    // MARK: sleep, cancel, timeout

    @Test func aSleepJournalsItsWakeUpTimeAndWaits() async throws {
        try await Harness.with { h in
            let result = try await h.run("""
                name: nap
                budget: 0
                steps:
                  - id: nap
                    type: sleep
                    duration: 10m
                  - id: after
                    type: transform
                    output: "{{steps.nap.output.wake_at}}"
                """)
            #expect(result.status == .completed)
            // The wait is what remains after journaling the wake-up time (on the wall clock): on a
            // loaded machine that write can take seconds, so up to a minute less than 600 s is fine.
            #expect(h.sleeps.withLock { $0.contains { $0 > 540 && $0 <= 600 } })
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.events.contains { $0.kind == .sleepStarted && $0.stepID == "nap" })
        }
    }

    @Test func cancelStopsARunningRunPromptlyAndKeepsTheInFlightCallCharged() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "slow", .hang)
            let yaml = """
                name: slow
                budget: 0.50
                steps:
                  - id: first
                    type: llm
                    model: test-gpt
                    prompt: "slow please"
                    max_tokens: 20
                  - id: second
                    type: transform
                    output: "{{steps.first.output.text}}"
                """
            let running = Task { try await h.run(yaml) }
            await h.server.waitForRequests(1)
            let runID = try #require(try await h.store.listRuns(limit: 1).first?.id)
            let clock = ContinuousClock()
            let asked = clock.now
            let cancelled = try await h.executor().cancel(runID: runID, by: "tester", reason: "changed my mind")
            #expect(cancelled.status == .cancelled)
            let result = try await running.value
            // The hung call would otherwise last the 120 s LLM timeout; the bound is loose because this
            // test's own tasks can resume seconds late while every suite runs on two cores.
            #expect(clock.now - asked < .seconds(30))
            #expect(result.status == .cancelled)
            #expect(result.error == "cancelled by tester: changed my mind")
            #expect(result.ledger.reserved > .zero)
            let journal = try await h.store.journal(runID: runID)
            #expect(journal.attempts.first?.status == .unsettled)
            #expect(journal.steps.first { $0.stepID == "second" } == nil)
            #expect(result.status.exitCode == 5)
            await #expect(throws: EngineError.self) {
                _ = try await h.executor().resume(runID: runID, definition: try WorkflowParser().parse(yaml: yaml, file: "t.yaml"))
            }
        }
    }

    @Test func cancellingARunNobodyDrivesEndsItAtOnce() async throws {
        try await Harness.with { h in
            let yaml = """
                name: gated
                budget: 0.50
                steps:
                  - id: ask
                    type: approval
                    message: "go?"
                """
            let waiting = try await h.run(yaml, approvals: .noWait)
            #expect(waiting.status == .waitingApproval)
            let result = try await h.executor().cancel(runID: waiting.runID, by: "tester", reason: nil)
            #expect(result.status == .cancelled)
            #expect(try await h.store.run(id: waiting.runID)?.status == .cancelled)
            // Its open request is closed: nobody is asked to decide a step that can no longer run.
            let requests = try await h.store.approvals(runID: waiting.runID, status: nil)
            #expect(requests.map(\.status) == [.rejected])
            #expect(requests.first?.decidedBy == "wflo cancel (tester)")
            await #expect(throws: EngineError.self) { _ = try await h.executor().cancel(runID: waiting.runID, by: "tester", reason: nil) }
        }
    }

    /// A run left waiting whose cancel was journaled (the canceller died before ending it), or
    /// whose deadline has passed, starts nothing when resumed: the approved step is never sent.
    @Test(arguments: ["cancel", "timeout"])
    func resumingARunThatMustStopStartsNoAttempt(why: String) async throws {
        try await Harness.with { h in
            let yaml = """
                name: gated
                budget: 0.50\(why == "timeout" ? "\ntimeout: 1h" : "")
                steps:
                  - id: ask
                    type: approval
                    message: "go?"
                  - id: go
                    type: llm
                    depends_on: ask
                    model: test-gpt
                    prompt: "after the approval"
                    max_tokens: 20
                """
            let waiting = try await h.run(yaml, approvals: .noWait)
            #expect(waiting.status == .waitingApproval)
            let request = try #require(try await h.store.approvals(runID: waiting.runID, status: .pending).first)
            _ = try await h.store.decideApproval(ApprovalDecision(requestID: request.id, verdict: .approve, by: "alice", at: Date()))
            if why == "cancel" {
                _ = try await h.store.requestCancel(runID: waiting.runID, by: "tester", reason: "stop it", at: Date())
            }
            let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
            // For the timeout: resumed two hours later (a clock of the executor's, not a wait).
            let shift: Double = why == "timeout" ? 7_200 : 0
            let resumed = try await h.executor(now: { Date().addingTimeInterval(shift) }).resume(runID: waiting.runID, definition: definition)
            #expect(resumed.status == (why == "cancel" ? .cancelled : .failed), "\(resumed.error ?? "")")
            #expect(resumed.error?.contains(why == "cancel" ? "stop it" : "timed out") == true, "\(resumed.error ?? "")")
            #expect(h.server.requestCount == 0)
            #expect(try await h.store.journal(runID: waiting.runID).attempts.isEmpty)
        }
    }

    /// A run stopped by its deadline while a step waits for a person closes the request.
    @Test func aTimedOutRunClosesItsPendingApprovals() async throws {
        try await Harness.with { h in
            let yaml = """
                name: gated
                budget: 0.50
                timeout: 1h
                steps:
                  - id: ask
                    type: approval
                    message: "go?"
                """
            let waiting = try await h.run(yaml, approvals: .noWait)
            #expect(waiting.status == .waitingApproval)
            let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
            let resumed = try await h.executor(approvals: .noWait, now: { Date().addingTimeInterval(7_200) })
                .resume(runID: waiting.runID, definition: definition)
            #expect(resumed.status == .failed)
            let requests = try await h.store.approvals(runID: waiting.runID, status: nil)
            #expect(requests.map(\.status) == [.rejected])
            #expect(requests.first?.decidedBy == "wflo (run timeout)")
        }
    }

    @Test func aRunPastItsTimeoutStops() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "slow", .hang)
            let result = try await h.run("""
                name: bounded
                budget: 0.50
                timeout: 300ms
                steps:
                  - id: first
                    type: llm
                    model: test-gpt
                    prompt: "slow please"
                    max_tokens: 20
                """)
            #expect(result.status == .failed)
            #expect(result.error?.contains("run timed out") == true)
        }
    }
}

/// Agents inside the control constructs: an agent in a sub-workflow journals, replays and reports
/// under its nested id; the agent's `budget:` holds its paid tools too.
@Suite(.timeLimit(.minutes(1)))
struct AgentInControlFlowTests {
    static let child = """
        name: ask
        steps:
          - id: researcher
            type: agent
            model: test-gpt
            task: "Summarize the topic"
            max_tokens: 50
            max_turns: 4
            budget: 0.01
            tools:
              - name: summarize
                description: "Ask a smaller model for a summary"
                parameters: {type: object, properties: {text: {type: string}}, required: [text]}
                type: llm
                model: test-gpt
                prompt: "Summarize: {{args.text}}"
                max_tokens: 900
        outputs: {answer: "{{steps.researcher.output.text}}"}
        """

    func run(_ h: Harness) async throws -> RunResult {
        try Self.child.write(to: h.directory.appendingPathComponent("ask.yaml"), atomically: true, encoding: .utf8)
        let path = h.directory.appendingPathComponent("parent.yaml").path
        try """
            name: parent
            budget: 1.00
            steps:
              - id: sub
                type: workflow
                workflow: ask.yaml
            outputs: {answer: "{{steps.sub.output.answer}}"}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let (definition, source) = try WorkflowParser().parse(fileAt: path)
        return try await h.executor().start(definition: definition, source: source, path: path,
                                            inputs: .object([:]), budget: definition.budget)
    }

    @Test func anAgentInASubWorkflowRunsUnderItsNestedID() async throws {
        try await Harness.with { h in
            // The second answer goes to the tool (a model call too), the third is the agent's last turn.
            h.server.enqueue(.call("summarize", ["text": "tides"]), .reply(text: "Tides follow the moon."), .reply(text: "They follow the moon."))
            let result = try await run(h)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["answer"] == "They follow the moon.")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(Set(journal.attempts.map(\.stepID)) == ["sub/researcher/1", "sub/researcher/1/summarize", "sub/researcher/2"])
        }
    }

    @Test func theAgentBudgetHoldsItsPaidToolsToo() async throws {
        try await Harness.with { h in
            // The tool's worst case (900 output tokens at $2e-06) alone passes the agent's $0.01 budget
            // once two turns are held: the store refuses it before it is sent.
            let expensive = AgentInControlFlowTests.child.replacingOccurrences(of: "budget: 0.01", with: "budget: 0.0019")
            try expensive.write(to: h.directory.appendingPathComponent("ask.yaml"), atomically: true, encoding: .utf8)
            h.server.enqueue(.call("summarize", ["text": "tides"]), .reply(text: "Without the tool."))
            let path = h.directory.appendingPathComponent("parent.yaml").path
            try """
                name: parent
                budget: 1.00
                steps:
                  - {id: sub, type: workflow, workflow: ask.yaml}
                """.write(toFile: path, atomically: true, encoding: .utf8)
            let (definition, source) = try WorkflowParser().parse(fileAt: path)
            let result = try await h.executor().start(definition: definition, source: source, path: path, inputs: .object([:]),
                                                      budget: definition.budget)
            let journal = try await h.store.journal(runID: result.runID)
            // The paid tool was never sent: only turns reached the server.
            #expect(h.server.requests().allSatisfy { !($0.lastUserMessage ?? "").hasPrefix("Summarize: ") })
            #expect(!journal.attempts.contains { $0.stepID == "sub/researcher/1/summarize" })
            let spent = journal.attempts.filter { $0.stepID.hasPrefix("sub/researcher/") }.compactMap(\.cost).sum()
            #expect(spent <= Money(string: "0.0019")!)
        }
    }
}
