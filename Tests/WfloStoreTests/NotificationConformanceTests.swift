import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// The approval outbox (issue 18) on every ``StoreUnderTest``: one notification per new request and
/// webhook, written with the request; none for a request found again after a restart; claims leased
/// to one deliverer at a time; the journal's settings made once.
struct NotificationConformanceTests {
    static let stores = ConformanceTests.stores

    static func request(_ id: String, step: String) -> ApprovalRecord {
        ApprovalRecord(id: id, runID: "run-1", stepID: step, message: "Publish?", details: ["url": "https://example.com"],
                       worstCase: money("0.02"), settings: ApprovalSettings(), requestedAt: date(10))
    }

    @Test(arguments: stores)
    func aNewRequestWritesOneNotificationPerWebhookAndARequestFoundAgainWritesNone(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            #expect(try await store.addNotifyHook(url: "https://hooks.example/journal", at: date(1)))
            #expect(try await store.addNotifyHook(url: "https://hooks.example/journal", at: date(2)) == false)
            #expect(try await store.notifyHooks() == ["https://hooks.example/journal"])
            // The workflow's hooks first; one the journal also has is written once.
            _ = try await store.requestApproval(Self.request("a1", step: "publish"), stepType: .http,
                                                notify: ["https://hooks.example/flow", "https://hooks.example/journal"])
            var written = try await store.notifications(approvalID: "a1")
            #expect(written.map(\.webhook) == ["https://hooks.example/flow", "https://hooks.example/journal"])
            #expect(written.allSatisfy { $0.runID == "run-1" && $0.attempts == 0 && $0.deliveredAt == nil && $0.createdAt == date(10) })
            // A resumed step asks again: the same request comes back and nothing more is written.
            let again = try await store.requestApproval(Self.request("a1-again", step: "publish"), stepType: .http,
                                                        notify: ["https://hooks.example/flow", "https://hooks.example/other"])
            #expect(again.id == "a1")
            written = try await store.notifications(approvalID: nil)
            #expect(written.count == 2)
            // A removed hook is not told of later requests; the rows already written stay.
            #expect(try await store.removeNotifyHook(url: "https://hooks.example/journal"))
            #expect(try await store.removeNotifyHook(url: "https://hooks.example/journal") == false)
            _ = try await store.requestApproval(Self.request("a2", step: "post"), stepType: .llm, notify: [])
            #expect(try await store.notifications(approvalID: "a2").isEmpty)
            #expect(try await store.notifications(approvalID: nil).count == 2)
        }
    }

    @Test(arguments: stores)
    func aClaimedNotificationIsLeasedToOneDelivererAtATime(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            _ = try await store.requestApproval(Self.request("a1", step: "publish"), stepType: .http, notify: ["https://hooks.example/x"])
            let noon = date(100)
            let first = try await store.claimDueNotifications(owner: "A", at: noon, lease: 30, limit: 10)
            let id = try #require(first.first?.id)
            #expect(first.count == 1 && first[0].approvalID == "a1")
            #expect(try await store.claimDueNotifications(owner: "B", at: noon.addingTimeInterval(10), lease: 30, limit: 10).isEmpty)
            #expect(try await store.markNotificationDelivered(id: id, owner: "B", at: noon) == false)
            #expect(try await store.markNotificationFailed(id: id, owner: "A", error: "HTTP 503", retryAt: noon.addingTimeInterval(60),
                                                           at: noon.addingTimeInterval(1)))
            #expect(try await store.claimDueNotifications(owner: "B", at: noon.addingTimeInterval(59), lease: 30, limit: 10).isEmpty)
            #expect(try await store.claimDueNotifications(owner: "B", at: noon.addingTimeInterval(60), lease: 30, limit: 10).map(\.id) == [id])
            // B's lease ends unused: A takes it over once it expires and delivers it; it is never handed out again.
            #expect(try await store.claimDueNotifications(owner: "A", at: noon.addingTimeInterval(91), lease: 30, limit: 10).map(\.id) == [id])
            #expect(try await store.markNotificationDelivered(id: id, owner: "A", at: noon.addingTimeInterval(92)))
            #expect(try await store.claimDueNotifications(owner: "B", at: noon.addingTimeInterval(500), lease: 30, limit: 10).isEmpty)
            let stored = try #require(try await store.notifications(approvalID: "a1").first)
            #expect(stored.attempts == 2 && stored.deliveredAt == noon.addingTimeInterval(92) && stored.lastError == nil)
        }
    }

    @Test(arguments: stores)
    func concurrentClaimsNeverHandOutOneNotificationTwice(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            for index in 0..<10 {
                _ = try await store.requestApproval(Self.request("a\(index)", step: "s\(index)"), stepType: .llm, notify: ["https://hooks.example/x"])
            }
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for owner in 0..<6 {
                    group.addTask { try await store.claimDueNotifications(owner: "o\(owner)", at: date(100), lease: 60, limit: 3).map(\.id) }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(claims.count == 10 && Set(claims).count == 10)
        }
    }

    @Test(arguments: stores)
    func aSettingIsMadeOnceWhoeverAsksFirst(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.journalSetting("k") == nil)
            let values = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<8 { group.addTask { try await store.journalSetting("k", orInsert: "v\(index)") } }
                var all: [String] = []
                for try await value in group { all.append(value) }
                return all
            }
            #expect(Set(values).count == 1)
            #expect(try await store.journalSetting("k") == values[0])
            try await store.setJournalSetting("k", value: "changed")
            #expect(try await store.journalSetting("k", orInsert: "other") == "changed")
        }
    }
}
