import Foundation
import Testing
import WfloCore
@testable import WfloStore

/// `changeStamp()`: the same while nothing is committed, different after any commit, by this
/// store or by another connection to the file (another `wflo` process opens its own); nil for a
/// journal in memory. The server keeps answers only for an unchanged stamp.
struct ChangeStampTests {
    @Test func theStampChangesWithEveryCommitFromAnyConnectionAndOnlyThen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            let store = try SQLiteJournalStore(path: path)
            let first = try #require(try await store.changeStamp())
            _ = try await store.run(id: "nothing")
            #expect(try await store.changeStamp() == first, "a read changes nothing")

            try await store.createRun(sampleRun(id: "run-a"))
            let afterOwn = try #require(try await store.changeStamp())
            #expect(afterOwn != first, "this store's own commit")

            let other = try SQLiteJournalStore(path: path)
            try await other.updateRunBudget(id: "run-a", budget: try #require(Money(string: "2")), at: Date(timeIntervalSince1970: 10))
            let afterOther = try #require(try await store.changeStamp())
            #expect(afterOther != afterOwn, "another connection's commit")
            #expect(try await store.changeStamp() == afterOther)

            #expect(try await SQLiteJournalStore.inMemory().changeStamp() == nil, "a journal in memory keeps nothing")
        }
    }
}
