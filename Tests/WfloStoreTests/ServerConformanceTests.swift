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

    @Test func aCursorThatIsNotOneReadsAsNil() {
        #expect(RunPageCursor(encoded: "not a cursor") == nil)
        #expect(RunPageCursor(encoded: "") == nil)
        let cursor = RunPageCursor(createdAt: Date(timeIntervalSince1970: 1_764_000_000.123456), id: "abc|def")
        #expect(RunPageCursor(encoded: cursor.encoded) == cursor)
    }
}
