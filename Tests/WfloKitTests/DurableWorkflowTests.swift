import Foundation
import Synchronization
import Testing
import WfloCore
import WfloEngine
import WfloKit
import WfloPricing
import WfloTesting

/// Durable functions in process: memoization, journaled errors and retries, non-determinism,
/// http and llm calls through the engine — on a real SQLite journal and loopback servers.
@Suite(.timeLimit(.minutes(2)))
struct DurableWorkflowTests {
    /// Counts closure runs across runs of a test.
    final class Counter: Sendable {
        let counts = Mutex<[String: Int]>([:])
        func hit(_ name: String) -> Int { counts.withLock { $0[name, default: 0] += 1; return $0[name]! } }
        subscript(_ name: String) -> Int { counts.withLock { $0[name, default: 0] } }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    @discardableResult
    static func withRuntime<T>(environment: [String: String] = [:], _ body: (WfloRuntime, URL) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let runtime = try WfloRuntime(journal: folder.appendingPathComponent("wflo.db").path, pricing: WorkflowBuilderTests.pricing,
                                      environment: environment.merging(["HOME": folder.path]) { a, _ in a })
        do {
            let result = try await body(runtime, folder)
            try await runtime.shutdown()
            return result
        } catch {
            try? await runtime.shutdown()
            throw error
        }
    }

    /// A step's result is journaled once; a second run with the id of a completed run returns
    /// it without running anything, and a rerun of an unfinished one runs only what is left.
    @Test func aStepRunsOncePerRunAndItsResultIsReplayed() async throws {
        let counter = Counter()
        let flow = DurableWorkflow("memo", budget: nil) { (ctx: DurableContext, n: Int) -> [Int] in
            let doubled: Int = try await ctx.step("double") { _ = counter.hit("double"); return n * 2 }
            let listed: [Int] = try await ctx.step("list") { _ = counter.hit("list"); return Array(0..<doubled) }
            return listed
        }
        try await Self.withRuntime { runtime, _ in
            let first = try await runtime.run(flow, input: 3, runID: "m-1")
            #expect(first.status == .completed)
            #expect(first.output == [0, 1, 2, 3, 4, 5])
            // Another input under the same id: the journaled input and results stand.
            let second = try await runtime.run(flow, input: 10, runID: "m-1")
            #expect(second.output == [0, 1, 2, 3, 4, 5])
            #expect(counter["double"] == 1 && counter["list"] == 1)
            let journal = try await runtime.store.journal(runID: "m-1")
            #expect(journal.steps.map(\.stepID).sorted() == ["double", "list"])
            #expect(journal.run.outputs?["result"] == [0, 1, 2, 3, 4, 5])
            #expect(journal.run.workflowPath.hasPrefix("swift-durable:memo"))
        }
    }

    /// What a step throws is journaled after its retries and thrown again on the next run of the
    /// same id without running the closure again; a function that catches it goes on.
    @Test func aStepsErrorIsJournaledAfterItsRetriesAndRethrownWithoutRerunning() async throws {
        let counter = Counter()
        let policy = RetryPolicy(initialInterval: 0.01, maximumInterval: 0.02, maximumAttempts: 3)
        let flow = DurableWorkflow("flaky", budget: nil) { (ctx: DurableContext, _: String) -> String in
            let caught: String
            do {
                caught = try await ctx.step("fails", retry: policy) { () -> String in
                    throw Failure(description: "attempt \(counter.hit("fails")) broke")
                }
            } catch let error as DurableError {
                caught = error.description
            }
            let after: String = try await ctx.step("after") { _ = counter.hit("after"); return "went on" }
            return caught + " | " + after
        }
        try await Self.withRuntime { runtime, _ in
            let first = try await runtime.run(flow, input: "x", runID: "f-1")
            #expect(first.status == .completed, "\(first.error ?? "")")
            #expect(first.output == "step 'fails' failed: attempt 3 broke (after 3 attempts) | went on")
            #expect(counter["fails"] == 3)
            let journal = try await runtime.store.journal(runID: "f-1")
            #expect(journal.events.filter { $0.kind == .retryScheduled && $0.stepID == "fails" }.count == 2)
            #expect(journal.steps.first { $0.stepID == "fails" }?.status == .failed)

            // The uncaught form: the run fails with the step's error, and a rerun throws it again unrun.
            let strict = DurableWorkflow("strict", budget: nil) { (ctx: DurableContext, _: String) -> String in
                try await ctx.step("fails") { () -> String in throw Failure(description: "broke \(counter.hit("strict"))") }
            }
            let failed = try await runtime.run(strict, input: "x", runID: "s-1")
            #expect(failed.status == .failed)
            #expect(failed.error == "step 'fails' failed: broke 1")
            let again = try await runtime.run(strict, input: "x", runID: "s-1")
            #expect(again.status == .failed)
            #expect(again.error == "step 'fails' failed: broke 1")
            #expect(counter["strict"] == 1)
        }
    }

    /// A rerun that asks, at a call it made before, for another step than the journal holds there
    /// is stopped with an error naming both; so is a step id used twice.
    @Test func aDifferentStepAtAJournaledCallIsANonDeterminismError() async throws {
        let first = DurableWorkflow("shifty", budget: nil) { (ctx: DurableContext, _: Int) -> Int in
            let a: Int = try await ctx.step("fetch") { 1 }
            let _: Int = try await ctx.step("score") { throw Failure(description: "not yet") }
            return a
        }
        let changed = DurableWorkflow("shifty", budget: nil) { (ctx: DurableContext, _: Int) -> Int in
            let a: Int = try await ctx.step("fetch") { 1 }
            let b: Int = try await ctx.step("rank") { 2 }
            return a + b
        }
        let twice = DurableWorkflow("twice", budget: nil) { (ctx: DurableContext, _: Int) -> Int in
            let a: Int = try await ctx.step("same") { 1 }
            let b: Int = try await ctx.step("same") { 2 }
            return a + b
        }
        try await Self.withRuntime { runtime, _ in
            let failed = try await runtime.run(first, input: 0, runID: "n-1")
            #expect(failed.status == .failed)
            await #expect { try await runtime.run(changed, input: 0, runID: "n-1") } throws: { error in
                let text = "\(error)"
                return error is DurableNondeterminism && text.contains("step 'rank'") && text.contains("step 'score'") && text.contains("at call 1")
            }
            let journal = try await runtime.store.journal(runID: "n-1")
            #expect(journal.run.status == .failed)
            #expect(journal.run.error?.contains("non-determinism") == true)

            await #expect { try await runtime.run(twice, input: 0, runID: "n-2") } throws: { error in
                "\(error)".contains("step 'same', which it asked for before at call 0")
            }
        }
    }

    /// `ctx.llm` goes through the attempt driver: reserved, settled, and served from the response
    /// cache for the same request; children of `forEach` are journaled as `ID[INDEX]/STEP`, each
    /// reserved on its own, at most `maxParallel` at a time.
    @Test func llmCallsAreReservedSettledAndForEachChildrenAreJournaledApart() async throws {
        let server = try await FakeLLMServer.start()
        let flow = DurableWorkflow("fan", budget: "0.50") { (ctx: DurableContext, topics: [String]) -> [String] in
            try await ctx.forEach("sum", topics, maxParallel: 2) { child, topic in
                try await child.llm("ask", model: "test-gpt", prompt: "Summarize \(topic)", maxTokens: 20).text
            }
        }
        try await Self.withRuntime(environment: ["OPENAI_BASE_URL": server.baseURLOpenAI, "OPENAI_API_KEY": "sk-test"]) { runtime, _ in
            let result = try await runtime.run(flow, input: ["tides", "moons", "tides"], runID: "fan-1")
            await server.shutdown()
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.output?.count == 3)
            #expect(result.output?[0] == result.output?[2])
            let journal = try await runtime.store.journal(runID: "fan-1")
            #expect(Set(journal.steps.map(\.stepID)) == ["sum[0]/ask", "sum[1]/ask", "sum[2]/ask"])
            // Two distinct requests reached the server; the repeated one was either in flight at
            // the same time (then sent) or served from the cache.
            #expect(server.requestCount >= 2 && server.requestCount <= 3)
            #expect(journal.attempts.filter { $0.model == "test-gpt" }.count >= server.requestCount)
            #expect(result.ledger.settled > .zero)
            #expect(result.ledger.reserved == .zero)
        }
    }

    /// `ctx.http` is an http step: the user's egress rules apply, and secrets reach the wire only.
    @Test func anHTTPCallSendsItsSecretAndJournalsTheResponse() async throws {
        let token = "tok-durable-SECRET-91f2"
        let service = try await FakeHTTPService.start()
        let flow = DurableWorkflow("notify", budget: nil) { (ctx: DurableContext, url: String) -> Int in
            let reply = try await ctx.http("post", .post(url, json: ["labels": ["refund"]], headers: ["Authorization": "Bearer {{secrets.HOOK}}"],
                                                          egress: EgressPolicy(allow: ["127.0.0.1"])))
            return reply["status"]?.intValue ?? -1
        }
        try await Self.withRuntime(environment: ["WFLO_SECRET_HOOK": token]) { runtime, folder in
            let result = try await runtime.run(flow, input: "\(service.baseURL)/anything/hook", runID: "h-1")
            await service.shutdown()
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.output == 200)
            let requests = service.requests()
            #expect(requests.count == 1)
            #expect(requests.first?.headers["authorization"] == "Bearer \(token)")
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                let bytes = try Data(contentsOf: folder.appendingPathComponent(file))
                #expect(bytes.range(of: Data(token.utf8)) == nil, "the secret is in \(file) in clear")
            }
        }
    }

    @Test func aBudgetThatIsNotAnAmountIsRefusedNamingTheWorkflow() async throws {
        let flow = DurableWorkflow("typo", budget: "fifty cents") { (_: DurableContext, _: Int) -> Int in 1 }
        try await Self.withRuntime { runtime, _ in
            await #expect { try await runtime.run(flow, input: 0, runID: "b-1") } throws: { error in
                "\(error)" == "durable workflow 'typo': budget 'fifty cents' is not an amount of dollars such as \"0.50\""
            }
        }
    }
}
