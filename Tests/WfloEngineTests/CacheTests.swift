import Foundation
import Synchronization
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloProviders
import WfloReports
import WfloStore
import WfloTesting

/// The LLM response cache through the executor, on a real SQLite journal and loopback HTTP.
@Suite(.timeLimit(.minutes(1)))
struct CacheTests {
    static func workflow(name: String = "cached", temperature: String = "0", extra: String = "", top: String = "") -> String {
        """
        name: \(name)
        budget: 0.10
        \(top)
        steps:
          - id: answer
            type: llm
            model: test-gpt
            prompt: "What is 2 + 2?"
            max_tokens: 20
            temperature: \(temperature)
        \(extra)
        outputs:
          text: "{{steps.answer.output.text}}"
        """
    }

    func prompts(_ server: FakeLLMServer) -> Int {
        server.requests().filter { $0.lastUserMessage == "What is 2 + 2?" }.count
    }

    @Test func aRepeatedTemperatureZeroRequestIsServedFromTheCacheAtZeroCost() async throws {
        try await Harness.with { h in
            let first = try await h.run(Self.workflow())
            let second = try await h.run(Self.workflow())
            #expect(first.status == .completed && second.status == .completed)
            #expect(prompts(h.server) == 1)
            #expect(second.outputs == first.outputs)
            #expect(first.ledger.settled > .zero)
            #expect(second.ledger.settled == .zero && second.ledger.reserved == .zero)

            let journal = try await h.store.journal(runID: second.runID)
            let attempt = try #require(journal.attempts.first)
            #expect(attempt.cacheHit)
            #expect(attempt.cost == .zero)
            #expect(attempt.reserved == .zero)
            #expect(attempt.saved == first.ledger.settled)
            #expect(journal.steps.first?.output?["cache_hit"] == true)
            #expect(journal.events.contains { $0.kind == .stepCompleted && $0.data["cache_hit"] == true })
            #expect(h.observer.all.contains { if case .stepCacheHit("answer", let saved) = $0 { saved == first.ledger.settled } else { false } })

            let stats = try await h.store.cacheStats(at: Date())
            #expect(stats.entries == 1 && stats.hits == 1 && stats.savings == first.ledger.settled)

            // The report shows the hit and what it saved; the spend stays the ledger's.
            let report = RunReport(journal: journal)
            #expect(report.cacheHits == 1)
            #expect(report.cacheSavings == first.ledger.settled)
            #expect(report.spent == .zero)
            #expect(report.models.allSatisfy { $0.calls == 0 })
            #expect(report.json["totals"]?["cache_savings_usd"]?.stringValue == first.ledger.settled.exact())
            #expect(report.render(.html).contains("cache hits · saved"))
        }
    }

    @Test func aHitNeedsNoBudget() async throws {
        try await Harness.with { h in
            _ = try await h.run(Self.workflow())
            let broke = try await h.run(Self.workflow(), budget: .zero)
            #expect(broke.status == .completed)
            #expect(prompts(h.server) == 1)
        }
    }

    @Test func otherTemperaturesAreCachedOnlyWhenTheStepOptsIn() async throws {
        try await Harness.with { h in
            _ = try await h.run(Self.workflow(temperature: "0.7"))
            _ = try await h.run(Self.workflow(temperature: "0.7"))
            #expect(prompts(h.server) == 2)
            let optIn = Self.workflow(temperature: "0.7").replacingOccurrences(of: "temperature: 0.7", with: "temperature: 0.7\n    cache: true")
            _ = try await h.run(optIn)
            _ = try await h.run(optIn)
            #expect(prompts(h.server) == 3)
            let optOut = Self.workflow().replacingOccurrences(of: "temperature: 0", with: "temperature: 0\n    cache: false")
            _ = try await h.run(optOut)
            _ = try await h.run(optOut)
            #expect(prompts(h.server) == 5)
        }
    }

    @Test func noCacheNeitherReadsNorFills() async throws {
        try await Harness.with { h in
            let definition = try WorkflowParser().parse(yaml: Self.workflow(), file: "t.yaml")
            var configuration = h.executor().configuration
            configuration.cacheEnabled = false
            for _ in 0..<2 {
                _ = try await Executor(configuration).start(definition: definition, source: Self.workflow(), path: "t.yaml",
                                                            inputs: [:], budget: definition.budget)
            }
            #expect(prompts(h.server) == 2)
            #expect(try await h.store.cacheStats(at: Date()).entries == 0)
        }
    }

    @Test func entriesExpireAfterTheirTTL() async throws {
        try await Harness.with { h in
            let yaml = Self.workflow().replacingOccurrences(of: "temperature: 0", with: "temperature: 0\n    cache_ttl: 1h")
            let definition = try WorkflowParser().parse(yaml: yaml, file: "t.yaml")
            let clock = Mutex(Date())
            var configuration = h.executor().configuration
            configuration.now = { clock.withLock { $0 } }
            func run() async throws {
                _ = try await Executor(configuration).start(definition: definition, source: yaml, path: "t.yaml", inputs: [:],
                                                            budget: definition.budget)
            }
            try await run()
            clock.withLock { $0 += 3599 }
            try await run()
            #expect(prompts(h.server) == 1)
            clock.withLock { $0 += 2 }
            try await run()
            #expect(prompts(h.server) == 2)
            try await run()
            #expect(prompts(h.server) == 2)
        }
    }

    @Test func namespacesAreIsolatedAndCanBeShared() async throws {
        try await Harness.with { h in
            _ = try await h.run(Self.workflow(name: "one"))
            _ = try await h.run(Self.workflow(name: "two"))
            #expect(prompts(h.server) == 2)
            _ = try await h.run(Self.workflow(name: "three", top: "cache_namespace: one"))
            #expect(prompts(h.server) == 2)
            #expect(try await h.store.cacheStats(at: Date()).namespaces.map(\.name) == ["one", "two"])
        }
    }

    @Test func truncatedAndFailedAnswersAreNeverCached() async throws {
        try await Harness.with { h in
            h.server.enqueue(.reply(text: "Four, because", finishReason: "length"))
            _ = try await h.run(Self.workflow())
            h.server.enqueue(.error(status: 400))
            let failed = try await h.run(Self.workflow())
            #expect(failed.status == .failed)
            #expect(try await h.store.cacheStats(at: Date()).entries == 0)
            // The next complete answer is cached and serves the one after.
            _ = try await h.run(Self.workflow())
            _ = try await h.run(Self.workflow())
            #expect(prompts(h.server) == 3)
        }
    }

    @Test func parallelStepsFillingOneKeyStoreOneEntry() async throws {
        try await Harness.with { h in
            var steps = ""
            for i in 0..<8 {
                steps += """
                  - id: s\(i)
                    type: llm
                    model: test-gpt
                    prompt: "Same question"
                    max_tokens: 20
                    temperature: 0

                """
            }
            let yaml = "name: fill\nbudget: 1\nsteps:\n" + steps
            let result = try await h.run(yaml)
            #expect(result.status == .completed)
            #expect(try await h.store.cacheStats(at: Date()).entries == 1)
            let again = try await h.run(yaml)
            #expect(again.ledger.settled == .zero)
            #expect(try await h.store.journal(runID: again.runID).attempts.allSatisfy(\.cacheHit))
        }
    }

    @Test func concurrentStoresOfOneKeyFromSeparateConnectionsInsertOnce() async throws {
        try await Harness.with { h in
            let path = h.directory.appendingPathComponent("wflo.db").path
            let inserted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        let store = try SQLiteJournalStore(path: path)
                        return try await store.storeResponse(CacheEntry(key: "k", namespace: "n", model: "m", response: ["text": .string("answer \(i)")],
                                                                        createdAt: Date(), expiresAt: nil))
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(inserted.filter { $0 }.count == 1)
            let stored = try #require(try await h.store.cachedResponse(key: "k", at: Date()))
            #expect(stored["text"]?.stringValue?.hasPrefix("answer ") == true)
            #expect(try await h.store.clearCache(olderThan: nil, namespace: "other", at: Date()) == 0)
            #expect(try await h.store.clearCache(olderThan: nil, namespace: "n", at: Date()) == 1)
        }
    }
}
