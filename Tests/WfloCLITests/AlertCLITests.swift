import Foundation
import Testing
import WfloApp
import WfloCore
import WfloTesting

/// Budget alerts and `report --by scope` as users meet them: real `wflo` processes, a real journal,
/// webhooks on a loopback `FakeHTTPService`.
@Suite(.timeLimit(.minutes(3)))
struct AlertCLITests {
    static func withWebhooks<T>(_ body: (FakeHTTPService) async throws -> T) async throws -> T {
        let service = try await FakeHTTPService.start()
        do {
            let result = try await body(service)
            await service.shutdown()
            return result
        } catch {
            await service.shutdown()
            throw error
        }
    }

    /// Two `wflo worker` processes on one journal whose outbox holds two alerts (a reservation
    /// crossed 50% and 80% of scope `research`), the receiver slow enough for their passes to
    /// overlap: each alert is posted exactly once, and `wflo alerts` lists both delivered.
    @Test(arguments: TestJournal.all)
    func twoWorkersDeliverEachAlertExactlyOnce(journal: TestJournal) async throws {
        try await Self.withWebhooks { webhooks in
            try await CLITests.withServer(journal: journal) { _, wflo, directory in
                let store = try await JournalLocation.resolve(option: nil, environment: wflo.environment).open(creating: true)
                let now = Date()
                try await store.setBudgetScope(BudgetScope(name: "research", limit: Money(1), period: .day, match: ["team": "research"],
                                                           alertThresholds: [Decimal(string: "0.5")!, Decimal(string: "0.8")!],
                                                           webhook: "\(webhooks.baseURL)/delay/0.5", createdAt: now))
                try await store.createRun(RunRecord(id: "tagged-run", workflowName: "brief", workflowPath: "brief.yaml", workflowSource: "name: brief\n",
                                                    inputs: [:], budget: nil, status: .completed, createdAt: now, updatedAt: now,
                                                    tags: ["team": "research"]))
                let outcome = try await store.beginAttempt(AttemptStart(runID: "tagged-run", stepID: "draft", stepType: .llm, number: 1,
                                                                        model: "gpt-4o-mini", reserve: Money(string: "0.9")!, at: now))
                await store.close()
                guard case .started = outcome else {
                    Issue.record("the reservation was refused: \(outcome)")
                    return
                }
                let workers = try (1...2).map { n in
                    try WorkerCLITests.Worker(wflo, [], log: directory.appendingPathComponent("worker-\(n).log"))
                }
                let posted = try await WorkerCLITests.eventually(30) { webhooks.requestCount >= 2 }
                for worker in workers { _ = await WorkerCLITests.stop(worker) }
                #expect(posted, "the workers posted \(webhooks.requestCount) alerts")
                // Both workers have stopped (each made its last pass): nothing more can come.
                #expect(webhooks.requestCount == 2)
                let thresholds = try webhooks.requests().map { try JSONValue.parse($0.body)["threshold"]?.interpolated ?? "" }
                #expect(thresholds.sorted() == ["0.5", "0.8"])

                let listed = try await wflo.run(["alerts", "--json"])
                #expect(listed.status == 0, "\(listed.output)")
                let alerts = try #require(try JSONValue.parse(listed.stdout).arrayValue)
                #expect(alerts.map { $0["state"]?.stringValue } == ["delivered", "delivered"])
                #expect(alerts.allSatisfy { $0["webhook"]?.stringValue == webhooks.baseURL })
                let table = try await wflo.run(["alerts", "--scope", "research"])
                #expect(table.status == 0 && table.stdout.contains("delivered"), "\(table.output)")
            }
        }
    }

    /// `wflo run --tag team=research` reserves into scope `research` and crosses its 1% threshold;
    /// the run posts the alert itself (once), and `wflo report --since 30d --by scope` counts the
    /// run in that scope.
    @Test func aTaggedRunDeliversItsAlertAndIsReportedInItsScope() async throws {
        try await Self.withWebhooks { webhooks in
            try await CLITests.withServer { _, wflo, _ in
                let set = try await wflo.run(["budgets", "set", "research", "--limit", "5", "--period", "day", "--match", "team=research",
                                              "--alert-at", "0.0001", "--webhook", "\(webhooks.baseURL)/anything/research"])
                #expect(set.status == 0, "\(set.output)")
                let other = try await wflo.run(["budgets", "set", "acme", "--limit", "5", "--match", "customer=acme"])
                #expect(other.status == 0, "\(other.output)")

                let run = try await wflo.run(["run", CLITests.brief, "--tag", "team=research", "--json"])
                #expect(run.status == 0, "\(run.output)")
                let spent = try #require(try JSONValue.parse(run.stdout)["spent_usd"]?.stringValue)
                #expect(webhooks.requestCount == 1, "one POST for the one threshold crossed, sent by the run")
                let body = try JSONValue.parse(try #require(webhooks.requests().first).body)
                #expect(body["scope"] == "research")
                #expect(body["threshold"]?.interpolated == "0.0001")
                #expect(body["limit_usd"] == "5.000000")

                let untagged = try await wflo.run(["run", CLITests.brief, "--json"])
                #expect(untagged.status == 0, "\(untagged.output)")
                #expect(webhooks.requestCount == 1)

                let report = try await wflo.run(["report", "--since", "30d", "--by", "scope", "--format", "json"])
                #expect(report.status == 0, "\(report.output)")
                let json = try JSONValue.parse(report.stdout)
                let groups = try #require(json["groups"]?.arrayValue)
                let research = try #require(groups.first { $0["key"] == "research" })
                #expect(research["spent_usd"]?.stringValue == spent)
                #expect(research["runs"] == .int(1))
                #expect(groups.first { $0["key"] == .string("(no scope)") }?["runs"] == .int(1))
                #expect(groups.first { $0["key"] == "acme" } == nil, "no run carried customer=acme")
                #expect(json["scopes"]?.arrayValue?.map { $0["scope"]?.stringValue } == ["acme", "research"])
                for format in ["table", "csv", "md"] {
                    let text = try await wflo.run(["report", "--since", "30d", "--by", "scope", "--format", format])
                    #expect(text.status == 0 && text.stdout.contains("research"), "\(text.output)")
                }
                let html = try await wflo.run(["report", "--since", "30d", "--by", "scope", "--format", "html"])
                #expect(html.stdout.contains("Spend by budget scope per day"))
            }
        }
    }

    @Test func byScopeIsAGroupingAndABadOneNamesThemAll() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let bad = try await wflo.run(["report", "--since", "7d", "--by", "team"])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("model, workflow, day, step or scope"), "\(bad.output)")
            let run = try await wflo.run(["run", CLITests.brief])
            #expect(run.status == 0, "\(run.output)")
            let empty = try await wflo.run(["alerts"])
            #expect(empty.status == 0 && empty.stdout.contains("No budget alerts"), "\(empty.output)")
        }
    }
}
