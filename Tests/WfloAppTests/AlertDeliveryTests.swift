import Foundation
import Synchronization
import Testing
import WfloApp
import WfloCore
import WfloHTTP
import WfloStore
import WfloTesting

/// Budget alerts from the journal's outbox to webhooks, over real loopback HTTP (`FakeHTTPService`)
/// on a real SQLite journal.
@Suite(.timeLimit(.minutes(2)))
struct AlertDeliveryTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A clock the test moves.
    final class TestClock: Sendable {
        let time = Mutex(AlertDeliveryTests.start)
        func now() -> Date { time.withLock { $0 } }
        func advance(_ seconds: Double) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    /// A journal file with scope `research` ($1 a day for runs tagged team=research, alerts at 50% and
    /// 80%, posting to `webhook`) and one reservation of `reserve` by a tagged run: it writes the
    /// alerts it crosses.
    static func withCrossedScope<T>(webhook: String?, reserve: String = "0.9",
                                    _ body: (String, SQLiteJournalStore) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("wflo.db").path
        let store = try SQLiteJournalStore(path: path)
        try await store.setBudgetScope(BudgetScope(name: "research", limit: Money(1), period: .day, match: ["team": "research"],
                                                   alertThresholds: [Decimal(string: "0.5")!, Decimal(string: "0.8")!], webhook: webhook,
                                                   createdAt: start))
        try await store.createRun(RunRecord(id: "run-1", workflowName: "brief", workflowPath: "brief.yaml", workflowSource: "name: brief\n",
                                            inputs: [:], budget: nil, createdAt: start, updatedAt: start, tags: ["team": "research"]))
        let outcome = try await store.beginAttempt(AttemptStart(runID: "run-1", stepID: "draft", stepType: .llm, number: 1, model: "gpt-4o-mini",
                                                                reserve: Money(string: reserve)!, at: start))
        guard case .started = outcome else { throw StoreError(.database, "the test's reservation was refused: \(outcome)") }
        return try await body(path, store)
    }

    static func deliverer(_ store: SQLiteJournalStore, http: AsyncHTTPStepTransport, clock: TestClock? = nil,
                          settings: AlertDeliveryService.Settings = .init(requestTimeout: .seconds(5), pollInterval: 0.05, finalPass: 5)) -> AlertDeliveryService {
        guard let clock else { return AlertDeliveryService(store: store, http: http, settings: settings) }
        return AlertDeliveryService(store: store, http: http, settings: settings, now: { clock.now() })
    }

    static func withHTTP<T>(_ body: (FakeHTTPService, AsyncHTTPStepTransport) async throws -> T) async throws -> T {
        let service = try await FakeHTTPService.start()
        let http = AsyncHTTPStepTransport()
        do {
            let result = try await body(service, http)
            try await http.shutdown()
            await service.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            await service.shutdown()
            throw error
        }
    }

    @Test func eachCrossedThresholdIsPostedOnceWithTheContractBody() async throws {
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/anything/hook") { _, store in
                let outcomes = await Self.deliverer(store, http: http).deliverDue()
                #expect(outcomes.count == 2)
                let requests = service.requests()
                #expect(requests.count == 2)
                #expect(requests.allSatisfy { $0.method == "POST" && $0.path == "/anything/hook" && $0.headers["content-type"] == "application/json" })
                let bodies = try requests.map { try JSONValue.parse($0.body) }
                #expect(Set(bodies.compactMap { $0["threshold"]?.interpolated }) == ["0.5", "0.8"])
                for body in bodies {
                    #expect(body["scope"] == "research")
                    #expect(body["spent_usd"] == "0.900000")
                    #expect(body["limit_usd"] == "1.000000")
                    #expect(body["period_start"] == .string(BudgetPeriod.day.window(containing: Self.start, timeZone: TimeZone(identifier: "UTC")!).periodStart.formatted(.iso8601)))
                    #expect(body["resets_at"] != .null)
                    #expect(body["text"] == nil, "not a Slack URL")
                }
                let alerts = try await store.alerts(scope: "research")
                #expect(alerts.count == 2 && alerts.allSatisfy { $0.deliveryState == .delivered && $0.lastError == nil })
                // Delivered alerts are never posted again.
                #expect(await Self.deliverer(store, http: http).deliverDue().isEmpty)
                #expect(service.requestCount == 2)
            }
        }
    }

    /// Two deliverers on their own connections to one journal file (as two processes have), passing
    /// over the outbox at once while the receiver is slow: each alert is posted exactly once.
    @Test func twoDeliverersAtOnceNeverPostTheSameAlertTwice() async throws {
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/delay/0.3") { path, store in
                let other = try SQLiteJournalStore(path: path)
                let first = Self.deliverer(store, http: http)
                let second = Self.deliverer(other, http: http)
                #expect(first.owner != second.owner)
                await withTaskGroup(of: Void.self) { group in
                    for deliverer in [first, second, first, second] {
                        group.addTask { for _ in 0..<3 { await deliverer.deliverDue() } }
                    }
                }
                #expect(service.requestCount == 2, "one POST per crossed threshold, not one per deliverer")
                let thresholds = try service.requests().map { try JSONValue.parse($0.body)["threshold"]?.interpolated }
                #expect(Set(thresholds.compactMap { $0 }) == ["0.5", "0.8"])
                #expect(try await store.alerts(scope: nil).allSatisfy { $0.deliveredAt != nil })
                await other.close()
            }
        }
    }

    @Test func aFailedPostIsRetriedAfterItsBackoffAndThenDelivered() async throws {
        try await Self.withHTTP { service, http in
            // Only the 50% threshold: the first POST answers 500, the next 200.
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/fail/1/hook", reserve: "0.6") { _, store in
                let clock = TestClock()
                let deliverer = Self.deliverer(store, http: http, clock: clock)
                let first = await deliverer.deliverDue()
                guard case .failed(_, _, let error, let retryAt)? = first.first, first.count == 1 else {
                    Issue.record("the first attempt should fail: \(first)")
                    return
                }
                #expect(error.contains("answered HTTP 500"))
                #expect(!error.contains("/fail/1/hook"), "the webhook's path is never shown: \(error)")
                #expect(retryAt == Self.start.addingTimeInterval(30))
                let failed = try #require(try await store.alerts(scope: "research").first)
                #expect(failed.attempts == 1 && failed.deliveryState == .retrying && failed.lastError == error)

                // Not before its time…
                clock.advance(29)
                #expect(await deliverer.deliverDue().isEmpty)
                #expect(service.requestCount == 1)
                // …then again, and delivered.
                clock.advance(1)
                let second = await deliverer.deliverDue()
                #expect(second.count == 1)
                if case .delivered? = second.first {} else { Issue.record("the retry should be delivered: \(second)") }
                #expect(service.requestCount == 2)
                #expect(try await store.alerts(scope: "research").first?.deliveryState == .delivered)
            }
        }
    }

    @Test func anAlertFailingItsLastAttemptIsDeadAndNeverPostedAgain() async throws {
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/status/503", reserve: "0.6") { _, store in
                let clock = TestClock()
                let settings = AlertDeliveryService.Settings(retry: AlertRetryPolicy(firstDelay: 10, maximumDelay: 10, maximumAttempts: 3))
                let deliverer = Self.deliverer(store, http: http, clock: clock, settings: settings)
                var states: [String] = []
                for _ in 0..<5 {
                    for outcome in await deliverer.deliverDue() {
                        switch outcome {
                        case .delivered: states.append("delivered")
                        case .failed: states.append("failed")
                        case .dead: states.append("dead")
                        }
                    }
                    clock.advance(10)
                }
                #expect(states == ["failed", "failed", "dead"])
                #expect(service.requestCount == 3)
                let alert = try #require(try await store.alerts(scope: "research").first)
                #expect(alert.deliveryState == .dead && alert.attempts == 3)
                #expect(alert.lastError?.contains("HTTP 503") == true)
                #expect(alert.listingJSON["state"] == "dead")
                #expect(alert.listingJSON["webhook"] == .string(service.baseURL), "listed by its origin only")
            }
        }
    }

    @Test func aSlackURLGetsTheReadableText() async throws {
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/anything/services/T0/B0/X", reserve: "0.6") { _, store in
                // The loopback host stands in for hooks.slack.com: the routing rule is by host (AlertWebhookTests).
                let settings = AlertDeliveryService.Settings(slackHosts: ["127.0.0.1"])
                #expect(await Self.deliverer(store, http: http, settings: settings).deliverDue().count == 1)
                let body = try JSONValue.parse(try #require(service.requests().first).body)
                #expect(body["text"]?.stringValue?.hasPrefix("Budget scope research reached 50% of its limit: $0.60 of $1.00 committed since ") == true)
                #expect(body["spent_usd"] == "0.600000")
            }
        }
    }

    /// A receiver that does not answer for 10 minutes costs a run at most the final pass: the run's
    /// result comes back at once, the hanging POST is cut at the request timeout (journaled) and the
    /// alert stays due. Bound: 2.5 s with `WFLO_STRICT_TIMING=1` on a quiet machine; 100 s in the full
    /// suite on a loaded one (a 2 s pass took 36 and 54 s there at load averages of 11 to 32, when
    /// every suite starved) — still a sixth of the receiver's delay.
    @Test func aHangingWebhookNeitherFailsNorHoldsUpTheRun() async throws {
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/delay/600", reserve: "0.6") { _, store in
                let settings = AlertDeliveryService.Settings(requestTimeout: .milliseconds(500), pollInterval: 0.05, finalPass: 2)
                let deliverer = Self.deliverer(store, http: http, settings: settings)
                let clock = ContinuousClock()
                let began = clock.now
                let value = try await deliverer.alongside { () async throws -> String in
                    try await Task.sleep(for: .milliseconds(100))
                    return "run result"
                }
                let took = clock.now - began
                #expect(value == "run result")
                let strict = ProcessInfo.processInfo.environment["WFLO_STRICT_TIMING"] == "1"
                #expect(took < (strict ? .seconds(2.5) : .seconds(100)), "took \(took)")
                let alert = try #require(try await store.alerts(scope: "research").first)
                #expect(alert.deliveredAt == nil && alert.deliveryState == .retrying)
                #expect(alert.lastError?.contains("within") == true, "the timeout is journaled: \(alert.lastError ?? "nil")")
            }
        }
    }

    @Test func aRunsErrorPassesThroughDeliveryUnchanged() async throws {
        struct Boom: Error {}
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: "\(service.baseURL)/anything", reserve: "0.6") { _, store in
                let deliverer = Self.deliverer(store, http: http)
                await #expect(throws: Boom.self) {
                    _ = try await deliverer.alongside { () async throws -> Int in throw Boom() }
                }
                // The final pass still delivered what was due.
                #expect(service.requestCount == 1)
            }
        }
    }

    @Test func aScopeWithoutWebhookRecordsItsAlertsAndPostsNothing() async throws {
        try await Self.withHTTP { service, http in
            try await Self.withCrossedScope(webhook: nil) { _, store in
                #expect(await Self.deliverer(store, http: http).deliverDue().isEmpty)
                #expect(service.requestCount == 0)
                let alerts = try await store.alerts(scope: "research")
                #expect(alerts.count == 2 && alerts.allSatisfy { $0.deliveryState == .recorded })
            }
        }
    }
}
