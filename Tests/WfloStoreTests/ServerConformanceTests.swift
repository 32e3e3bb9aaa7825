import Foundation
import Testing
import WfloCore

/// API tokens and the run list's pages (issue 18), against every ``StoreUnderTest``.
struct ServerConformanceTests {
    @Test(arguments: ConformanceTests.stores)
    func tokensAreKeptByHashNamesAreUniqueAndRevokingStopsThem(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let alice = APITokenRecord(name: "alice", role: .approve, hash: String(repeating: "a", count: 64), createdAt: date(1))
            let bot = APITokenRecord(name: "ci-bot", role: .submit, hash: String(repeating: "b", count: 64), createdAt: date(2))
            try await store.createToken(bot)
            try await store.createToken(alice)
            #expect(try await store.tokens() == [alice, bot])
            #expect(try await store.token(hash: alice.hash) == alice)
            #expect(try await store.token(hash: String(repeating: "c", count: 64)) == nil)

            var again = alice
            again.hash = String(repeating: "d", count: 64)
            let duplicate = try await #require(throws: StoreError.self) { try await store.createToken(again) }
            #expect(duplicate.code == .conflict && duplicate.message.contains("alice"))

            #expect(try await store.revokeToken(name: "alice", at: date(5)))
            #expect(try await !store.revokeToken(name: "alice", at: date(6)), "a revoked token is not revoked twice")
            #expect(try await !store.revokeToken(name: "nobody", at: date(6)))
            #expect(try await store.token(hash: alice.hash)?.revokedAt == date(5))
            // A revoked name is never given to another token: approvals name it.
            await #expect(throws: StoreError.self) { try await store.createToken(again) }
        }
    }

    @Test(arguments: ConformanceTests.stores)
    func runPagesAreNewestFirstFilteredAndContinueAfterTheirCursor(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.runCountsByStatus().isEmpty)
            // Two runs share a creation time: the id breaks the tie, and a cursor between them is exact.
            for (id, created) in [("r1", 1.0), ("r2", 2.0), ("r3b", 3.0), ("r3a", 3.0), ("r4", 4.25)] {
                try await store.createRun(sampleRun(id: id, created: created))
            }
            var other = sampleRun(id: "x9", created: 5)
            other.workflowName = "other"
            try await store.createRun(other)
            try await store.updateRun(id: "r2", status: .failed, outputs: nil, error: "boom", at: date(6))

            #expect(try await store.runPage(RunPageQuery(limit: 10)).map(\.id) == ["x9", "r4", "r3b", "r3a", "r2", "r1"])
            var seen: [String] = []
            var cursor: RunPageCursor?
            repeat {
                let page = try await store.runPage(RunPageQuery(workflow: "brief", after: cursor, limit: 2))
                #expect(page.count <= 2)
                seen += page.map(\.id)
                // Through its text form, as a client sends it back.
                cursor = page.count == 2 ? RunPageCursor(encoded: RunPageCursor(after: page[1]).encoded) : nil
            } while cursor != nil
            #expect(seen == ["r4", "r3b", "r3a", "r2", "r1"])
            #expect(try await store.runPage(RunPageQuery(status: .failed, limit: 10)).map(\.id) == ["r2"])
            #expect(try await store.runPage(RunPageQuery(status: .completed, limit: 10)).isEmpty)
            #expect(try await store.runPage(RunPageQuery(limit: 0)).isEmpty)
            #expect(try await store.runCountsByStatus() == [.running: 5, .failed: 1])
        }
    }

    @Test func aCursorThatIsNotOneReadsAsNil() {
        #expect(RunPageCursor(encoded: "not a cursor") == nil)
        #expect(RunPageCursor(encoded: "") == nil)
        let cursor = RunPageCursor(createdAt: Date(timeIntervalSince1970: 1_764_000_000.123456), id: "abc|def")
        #expect(RunPageCursor(encoded: cursor.encoded) == cursor)
    }

    @Test(arguments: ConformanceTests.stores)
    func approvalNotificationsAreFiledOnceClaimedByOneAndRetriedWhenDue(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            func row(_ approval: String, _ url: String, at: Double) -> ApprovalNotification {
                ApprovalNotification(approvalID: approval, runID: "run-1", stepID: "gate", url: url, createdAt: date(at))
            }
            #expect(try await store.enqueueApprovalNotifications([row("a1", "https://x/1", at: 1), row("a1", "https://x/2", at: 1)]) == 2)
            // Filing again (another server, a restart) adds nothing.
            #expect(try await store.enqueueApprovalNotifications([row("a1", "https://x/1", at: 5), row("a2", "https://x/1", at: 2)]) == 1)
            #expect(try await store.approvalNotifications(approvalID: nil).count == 3)
            #expect(try await store.approvalNotifications(approvalID: "a2").map(\.url) == ["https://x/1"])

            // Two claimers never get the same row; a live lease keeps it from a second claim.
            let first = try await store.claimApprovalNotifications(owner: "p1", at: date(10), lease: 300, limit: 2)
            let second = try await store.claimApprovalNotifications(owner: "p2", at: date(11), lease: 300, limit: 10)
            #expect(first.count == 2 && second.count == 1)
            #expect(Set(first.map { "\($0.approvalID) \($0.url)" }).isDisjoint(with: second.map { "\($0.approvalID) \($0.url)" }))
            #expect(try await store.claimApprovalNotifications(owner: "p3", at: date(12), lease: 30, limit: 10).isEmpty)

            let done = first[0]
            #expect(try await !store.markApprovalNotificationDelivered(approvalID: done.approvalID, url: done.url, owner: "p2", at: date(13)),
                    "only the claim's owner journals it")
            #expect(try await store.markApprovalNotificationDelivered(approvalID: done.approvalID, url: done.url, owner: "p1", at: date(13)))
            let failed = first[1]
            #expect(try await store.markApprovalNotificationFailed(approvalID: failed.approvalID, url: failed.url, owner: "p1", error: "HTTP 500",
                                                                   retryAt: date(100)))
            // Not due before its retry time; due after; a delivered one never again.
            #expect(try await store.claimApprovalNotifications(owner: "p3", at: date(50), lease: 30, limit: 10).isEmpty)
            let retried = try await store.claimApprovalNotifications(owner: "p3", at: date(100), lease: 30, limit: 10)
            #expect(retried.count == 1 && retried[0].attempts == 1 && retried[0].lastError == "HTTP 500")
            // An expired lease (p2 and p3 died) lets another claim it.
            let taken = try await store.claimApprovalNotifications(owner: "p4", at: date(400), lease: 30, limit: 10)
            #expect(taken.count == 2)
            let all = try await store.approvalNotifications(approvalID: nil)
            #expect(all.filter { $0.deliveredAt != nil }.count == 1)
        }
    }

    @Test(arguments: ConformanceTests.stores)
    func aJournalSettingKeepsItsFirstValue(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let first = try await store.journalSetting("k", proposed: "one")
            let second = try await store.journalSetting("k", proposed: "two")
            let other = try await store.journalSetting("other", proposed: "two")
            #expect([first, second, other] == ["one", "one", "two"])
        }
    }
}
