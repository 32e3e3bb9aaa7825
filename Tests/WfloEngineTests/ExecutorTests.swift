import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing
import WfloStore
import WfloTesting

@Suite(.timeLimit(.minutes(1)))
struct ExecutorTests {
    static let brief = """
        name: brief
        budget: 0.10
        inputs:
          topic: {type: string, default: "batteries"}
        steps:
          - id: outline
            type: llm
            model: test-gpt
            prompt: "Outline {{inputs.topic}}"
            max_tokens: 50
          - id: facts
            type: llm
            model: test-gpt
            prompt: "Facts about {{inputs.topic}}"
            max_tokens: 50
          - id: draft
            type: llm
            depends_on: [outline, facts]
            model: test-claude
            system: "Be brief."
            prompt: "Draft from {{steps.outline.output.text}} and {{steps.facts.output.text}}"
            max_tokens: 80
        outputs:
          brief: "{{steps.draft.output.text}}"
        """

    @Test func runsParallelStepsThenTheirDependentAndSettlesExactCosts() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.brief)
            #expect(result.status == .completed)
            let requests = h.server.requests()
            #expect(requests.count == 3)
            // The dependent went out last, carrying both answers.
            #expect(requests.last?.path == FakeLLMServer.anthropicPath)
            #expect(requests.last?.bodyText.contains("Echo: Outline batteries") == true)
            #expect(requests.last?.bodyText.contains("Echo: Facts about batteries") == true)
            // Every attempt settled at the exact table price of the usage the server reported.
            let journal = try await h.store.journal(runID: result.runID)
            for attempt in journal.attempts {
                let expected = try testPricing.cost(model: attempt.model!, usage: attempt.usage!).total
                #expect(attempt.cost == expected)
                #expect(attempt.status == .succeeded)
            }
            #expect(result.ledger.reserved == .zero)
            #expect(result.ledger.settled == journal.attempts.compactMap(\.cost).sum())
            #expect(result.outputs?["brief"]?.stringValue?.hasPrefix("Echo: Draft from") == true)
        }
    }

    @Test func refusesCallThatWouldExceedBudgetBeforeAnyTraffic() async throws {
        try await Harness.with { h in
            let worst = try h.worstCase(prompt: "Outline batteries", maxTokens: 50)
            let budget = worst - Money(string: "0.000001")!
            let result = try await h.run(Self.brief, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(h.server.requestCount == 0)
            #expect(result.ledger.committed == .zero)
            // outline and facts start in parallel; whichever is refused first names its worst case.
            let message = try #require(result.error)
            let factsWorst = try h.worstCase(prompt: "Facts about batteries", maxTokens: 50)
            #expect(message.contains(worst.dollars()) || message.contains(factsWorst.dollars()))
            #expect(message.contains(budget.dollars()))
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.contains { $0.status == .budgetExceeded })
            #expect(journal.attempts.isEmpty)
        }
    }

    @Test func tenParallelStepsRacingForABudgetThatFitsFiveMakeAtMostFiveCalls() async throws {
        try await Harness.with { h in
            var yaml = "name: race\nsteps:\n"
            for i in 0..<10 {
                yaml += "  - id: s\(i)\n    type: llm\n    model: test-gpt\n    prompt: \"Question \(i)\"\n    max_tokens: 100\n"
            }
            let worst = try h.worstCase(prompt: "Question 0", maxTokens: 100)
            let budget = worst * 5 + worst * Decimal(string: "0.5")!
            // Every answer is slow, so usually all ten reserve before any settles; and each costs
            // its whole reservation, so an early settle frees nothing for a sixth.
            h.server.on(promptContaining: "Question", try h.replyCostingTheWorstCase(prompt: "Question 0", maxTokens: 100,
                                                                                     after: .milliseconds(300)))
            let result = try await h.run(yaml, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(h.server.requestCount == 5)
            #expect(result.ledger.committed <= budget)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.count == 5)
            #expect(journal.steps.filter { $0.status == .budgetExceeded }.count == 5)
        }
    }

    @Test func retriesRateLimitAfterTheDelayTheProviderAsksFor() async throws {
        try await Harness.with { h in
            h.server.enqueue(.rateLimited(retryAfter: "7"), .reply())
            let result = try await h.run("name: one\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10}\n")
            #expect(result.status == .completed)
            #expect(h.sleeps.withLock { $0 } == [7])
            let attempts = try await h.store.journal(runID: result.runID).attempts
            #expect(attempts.map(\.status) == [.failed, .succeeded])
            #expect(attempts[0].cost == .zero)
            #expect(attempts[0].error?.contains("429") == true)
            #expect(result.ledger.settled == attempts[1].cost)
        }
    }

    @Test func serverErrorsRetryWithJitteredBackoffThenFail() async throws {
        try await Harness.with { h in
            h.server.enqueue(.error(status: 500), .error(status: 502), .error(status: 503))
            let yaml = """
                name: flaky
                budget: 1
                steps:
                  - id: a
                    type: llm
                    model: test-gpt
                    prompt: hi
                    max_tokens: 10
                    retry: {initial_interval: 2s, backoff_coefficient: 3, maximum_attempts: 3}
                """
            let result = try await h.run(yaml)
            #expect(result.status == .failed)
            #expect(h.server.requestCount == 3)
            // random() is 0.5, so the ±20% jitter lands on the policy's delay itself.
            #expect(h.sleeps.withLock { $0 } == [2, 6])
            #expect(result.error?.contains("after 3 attempts") == true)
            #expect(result.ledger.committed == .zero)
        }
    }

    @Test(arguments: [400, 401, 404])
    func clientErrorsAreNotRetried(status: Int) async throws {
        try await Harness.with { h in
            h.server.enqueue(.error(status: status))
            let result = try await h.run("name: one\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10}\n")
            #expect(result.status == .failed)
            #expect(h.server.requestCount == 1)
            #expect(h.sleeps.withLock { $0 }.isEmpty)
            #expect(result.error?.contains("HTTP \(status)") == true)
        }
    }

    /// `non_retryable_errors` names kinds as documented (`malformed_response`), not as Swift
    /// spells its cases: a garbled (possibly billed) answer listed there is sent once, not again.
    @Test func aKindListedAsNonRetryableIsSentOnce() async throws {
        try await Harness.with { h in
            h.server.enqueue(.malformedJSON, .malformedJSON)
            let yaml = """
                name: once
                budget: 1
                steps:
                  - id: a
                    type: llm
                    model: test-gpt
                    prompt: hi
                    max_tokens: 10
                    retry: {maximum_attempts: 3, non_retryable_errors: [malformed_response]}
                """
            let result = try await h.run(yaml)
            #expect(result.status == .failed)
            #expect(h.server.requestCount == 1)
            #expect(h.sleeps.withLock { $0 }.isEmpty)
        }
    }

    @Test func exhaustedQuotaIsNotRetried() async throws {
        try await Harness.with { h in
            h.server.enqueue(.insufficientQuota)
            let result = try await h.run("name: one\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10}\n")
            #expect(result.status == .failed)
            #expect(h.server.requestCount == 1)
            #expect(result.error?.contains("quota") == true)
        }
    }

    @Test func anthropicCacheTokensArePricedAtTheirOwnRates() async throws {
        try await Harness.with { h in
            h.server.enqueue(.reply(text: "ok", promptTokens: 5000, completionTokens: 10, cachedTokens: 3000,
                                    cacheWrite5mTokens: 1000, cacheWrite1hTokens: 500))
            let result = try await h.run("name: one\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: test-claude, prompt: hi, max_tokens: 10}\n")
            #expect(result.status == .completed)
            // 500 plain × 3e-6 + 3000 read × 3e-7 + 1000 write × 3.75e-6 + 500 write(1h) × 6e-6 + 10 out × 1.5e-5
            // = 0.0015 + 0.0009 + 0.00375 + 0.003 + 0.00015
            #expect(result.ledger.settled == Money(string: "0.0093")!)
            let usage = try #require(try await h.store.journal(runID: result.runID).attempts.first?.usage)
            #expect(usage == TokenUsage(inputTokens: 5000, cachedInputTokens: 3000, cacheWriteTokens: 1000, cacheWrite1hTokens: 500, outputTokens: 10))
        }
    }

    @Test func budgetAlertsAreRaisedOnceEach() async throws {
        try await Harness.with { h in
            // Each call settles at 1000 × 1e-6 + 10 × 2e-6 = 0.00102.
            for _ in 0..<3 { h.server.enqueue(.reply(text: "x", promptTokens: 1000, completionTokens: 10)) }
            let yaml = """
                name: alerts
                steps:
                  - {id: a, type: llm, model: test-gpt, prompt: one, max_tokens: 10}
                  - {id: b, type: llm, model: test-gpt, prompt: two, max_tokens: 10, depends_on: [a]}
                  - {id: c, type: llm, model: test-gpt, prompt: three, max_tokens: 10, depends_on: [b]}
                """
            let result = try await h.run(yaml, budget: Money(string: "0.0034")!)
            #expect(result.status == .completed)
            let alerts = h.observer.all.compactMap { if case .budgetAlert(let p, _, _) = $0 { return p } else { return nil } }
            #expect(alerts == [50, 80])
        }
    }

    /// Spend that lands exactly on a threshold raises it (compared as committed × 100 ≥ budget ×
    /// threshold); spend exactly at the budget is 95% but not "over" (100 is for spend past it).
    @Test func anAlertIsRaisedAtExactlyItsThreshold() async throws {
        try await Harness.with { h in
            for _ in 0..<2 { h.server.enqueue(.reply(text: "x", promptTokens: 1000, completionTokens: 10)) }
            let yaml = """
                name: alerts
                steps:
                  - {id: a, type: llm, model: test-gpt, prompt: one, max_tokens: 10}
                  - {id: b, type: llm, model: test-gpt, prompt: two, max_tokens: 10, depends_on: [a]}
                """
            // 0.00102 after the first call is 50.000…%; 0.00204 after the second is 100%.
            let result = try await h.run(yaml, budget: Money(string: "0.00204")!)
            #expect(result.status == .completed)
            let alerts = h.observer.all.compactMap { if case .budgetAlert(let p, _, _) = $0 { return p } else { return nil } }
            #expect(alerts == [50, 80, 95])
        }
    }

    @Test func transformStepsBuildValuesFromTemplatesWithNoCall() async throws {
        try await Harness.with { h in
            let yaml = """
                name: shapes
                inputs:
                  n: {type: integer, default: 3}
                  who: world
                steps:
                  - id: greet
                    type: transform
                    output: {text: "hello {{inputs.who}}", n: "{{inputs.n}}", list: ["{{inputs.who}}", 2]}
                  - id: echo
                    type: transform
                    output: "{{steps.greet.output.list}}"
                outputs:
                  greeting: "{{steps.greet.output.text}}"
                  list: "{{steps.echo.output}}"
                  n: "{{steps.greet.output.n}}"
                """
            let result = try await h.run(yaml, budget: .zero, inputs: ["who=there"])
            #expect(result.status == .completed)
            #expect(result.outputs == ["greeting": "hello there", "list": ["there", 2], "n": 3])
            #expect(h.server.requestCount == 0)
        }
    }

    @Test func aTemplateNamingAMissingFieldFailsTheStepWithTheFieldsThatExist() async throws {
        try await Harness.with { h in
            let yaml = """
                name: missing
                steps:
                  - {id: a, type: transform, output: {x: 1}}
                  - {id: b, type: transform, output: "{{steps.a.output.y}}"}
                """
            let result = try await h.run(yaml, budget: .zero)
            #expect(result.status == .failed)
            #expect(result.error?.contains("has no 'y' (it has: x)") == true)
        }
    }

    @Test func resumeReplaysCompletedStepsAndKeepsTheInFlightCallCharged() async throws {
        try await Harness.with { h in
            let yaml = """
                name: chain
                budget: 1
                steps:
                  - {id: first, type: llm, model: test-gpt, prompt: "step one", max_tokens: 20}
                  - {id: second, type: llm, model: test-gpt, prompt: "step two after {{steps.first.output.text}}", max_tokens: 20}
                """
            h.server.on(promptContaining: "step two", .hang, times: 1)
            let definition = try WorkflowParser().parse(yaml: yaml, file: "chain.yaml")
            let executor = h.executor()
            let runID = "resume-test-run"
            let task = Task { try await executor.start(definition: definition, source: yaml, path: "chain.yaml", inputs: [:], budget: definition.budget, runID: runID) }
            await h.server.waitForRequests(2)
            task.cancel() // the process "dies" with `second` in flight
            _ = try? await task.value
            let before = try await h.store.journal(runID: runID)
            let inFlight = try #require(before.attempts.first { $0.stepID == "second" })
            #expect(inFlight.status == .running)

            let result = try await h.executor().resume(runID: runID, definition: definition)
            #expect(result.status == .completed)
            let requests = h.server.requests()
            #expect(requests.filter { $0.promptText.hasPrefix("step one") }.count == 1)
            #expect(requests.filter { $0.promptText.hasPrefix("step two") }.count == 2)
            let journal = try await h.store.journal(runID: runID)
            let unsettled = journal.attempts.filter { $0.status == .unsettled }
            #expect(unsettled.count == 1)
            #expect(result.ledger.reserved == inFlight.reserved)
            #expect(result.ledger.committed <= Money(1))
            #expect(journal.attempts.filter { $0.stepID == "second" }.map(\.number) == [1, 2])
        }
    }
}

extension Money {
    static func * (lhs: Money, rhs: Money) -> Money { Money(lhs.amount * rhs.amount) }
}
