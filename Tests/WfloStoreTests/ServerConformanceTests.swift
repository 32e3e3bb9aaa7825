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

    /// Dashboard sessions (v17_sessions): found by their id's hash while live and their token is;
    /// expired ones are not found and are swept; logging out deletes one; revoking the token ends all of its.
    @Test(arguments: ConformanceTests.stores)
    func sessionsLiveUntilTheyExpireAreLoggedOutOrTheirTokenIsRevoked(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let alice = APITokenRecord(name: "alice", role: .approve, hash: String(repeating: "a", count: 64), createdAt: date(1))
            let bot = APITokenRecord(name: "ci-bot", role: .submit, hash: String(repeating: "b", count: 64), createdAt: date(1))
            try await store.createToken(alice)
            try await store.createToken(bot)
            let first = SessionRecord(idHash: String(repeating: "1", count: 64), tokenHash: alice.hash, createdAt: date(2), expiresAt: date(100))
            let second = SessionRecord(idHash: String(repeating: "2", count: 64), tokenHash: alice.hash, createdAt: date(3), expiresAt: date(100))
            let short = SessionRecord(idHash: String(repeating: "3", count: 64), tokenHash: bot.hash, createdAt: date(3), expiresAt: date(10))
            let botLong = SessionRecord(idHash: String(repeating: "4", count: 64), tokenHash: bot.hash, createdAt: date(3), expiresAt: date(100))
            for session in [first, second, short, botLong] { try await store.createSession(session) }

            #expect(try await store.session(idHash: first.idHash, now: date(5)) == first)
            #expect(try await store.session(idHash: short.idHash, now: date(5)) == short)
            // With its token in the same read (the dashboard's check on every page).
            let live = try await store.liveSession(idHash: first.idHash, now: date(5))
            #expect(live?.session == first && live?.token == alice)
            #expect(try await store.liveSession(idHash: short.idHash, now: date(5))?.token == bot)
            #expect(try await store.liveSession(idHash: String(repeating: "9", count: 64), now: date(5)) == nil)
            #expect(try await store.liveSession(idHash: short.idHash, now: date(10)) == nil, "expired")
            #expect(try await store.session(idHash: String(repeating: "9", count: 64), now: date(5)) == nil)
            // Expired: not found, then swept.
            #expect(try await store.session(idHash: short.idHash, now: date(10)) == nil)
            #expect(try await store.deleteExpiredSessions(now: date(10)) == 1)
            #expect(try await store.deleteExpiredSessions(now: date(10)) == 0)
            // Logging out ends one session only.
            #expect(try await store.deleteSession(idHash: second.idHash))
            #expect(try await !store.deleteSession(idHash: second.idHash))
            #expect(try await store.session(idHash: second.idHash, now: date(5)) == nil)
            #expect(try await store.session(idHash: first.idHash, now: date(5)) == first)
            // Revoking alice ends her sessions, not the bot's.
            #expect(try await store.revokeToken(name: "alice", at: date(6)))
            #expect(try await store.session(idHash: first.idHash, now: date(7)) == nil)
            #expect(try await store.liveSession(idHash: first.idHash, now: date(7)) == nil, "its token was revoked")
            #expect(try await !store.deleteSession(idHash: first.idHash), "revoking deleted it")
            #expect(try await store.session(idHash: botLong.idHash, now: date(7)) == botLong)
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

    /// A run's change mark stays the same while nothing is written to the run and changes with
    /// each kind of write a finished run can still get (the dashboard's page cache rests on it).
    @Test(arguments: ConformanceTests.stores)
    func aRunsChangeMarkChangesWithEveryWriteToTheRun(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.runChangeMark(id: "run-1") == nil)
            try await store.createRun(sampleRun())
            try await store.createRun(sampleRun(id: "other"))
            var marks: [RunChangeMark] = []
            func changed(_ what: String) async throws {
                let mark = try #require(try await store.runChangeMark(id: "run-1"))
                #expect(!marks.contains(mark), "\(what) changes the mark")
                #expect(try await store.runChangeMark(id: "run-1") == mark, "read again, unchanged")
                marks.append(mark)
            }
            try await changed("creating the run")
            #expect(marks.last?.status == .running)
            // Writes to another run leave this one's mark alone.
            try await store.updateRun(id: "other", status: .completed, outputs: nil, error: nil, at: date(1))
            #expect(try await store.runChangeMark(id: "run-1") == marks.last)

            let attempt = try #require(try await store.beginAttempt(AttemptStart(runID: "run-1", stepID: "outline", stepType: .llm, number: 1,
                                                                                   model: nil, reserve: money("0.1"), at: date(1))).attemptID)
            try await changed("a reservation")
            try await store.finishAttempt(finish(attempt, cost: "0.02"))
            try await changed("a settlement")
            try await store.appendEvent(.runStatus(runID: "run-1", status: .running, error: nil, at: date(3)))
            try await changed("an event")
            _ = try await store.requestApproval(ApprovalRecord(id: "req1", runID: "run-1", stepID: "publish", message: "Publish?", details: .null,
                                                               worstCase: nil, settings: ApprovalSettings(approvers: []), requestedAt: date(4)),
                                                stepType: .approval)
            try await changed("an approval request")
            _ = try await store.decideApproval(ApprovalDecision(requestID: "req1", verdict: .approve, by: "ana", at: date(5)))
            try await changed("a decision")
            try await store.updateRun(id: "run-1", status: .completed, outputs: ["n": 1], error: nil, at: date(6))
            try await changed("its status")
            #expect(marks.last?.status == .completed)
            try await store.updateRunBudget(id: "run-1", budget: money("2"), at: date(7))
            try await changed("its budget")
            _ = try await store.requestCancel(runID: "run-1", by: "ana", reason: nil, at: date(8))
            try await changed("a cancel request")
        }
    }

    @Test func aCursorThatIsNotOneReadsAsNil() {
        #expect(RunPageCursor(encoded: "not a cursor") == nil)
        #expect(RunPageCursor(encoded: "") == nil)
        let cursor = RunPageCursor(createdAt: Date(timeIntervalSince1970: 1_764_000_000.123456), id: "abc|def")
        #expect(RunPageCursor(encoded: cursor.encoded) == cursor)
    }
}
