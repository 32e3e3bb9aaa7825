import Foundation
import Testing
import WfloCore
import WfloStore

struct RunIDTests {
    private func store(with ids: [String]) async throws -> SQLiteJournalStore {
        let store = try SQLiteJournalStore.inMemory()
        for (index, id) in ids.enumerated() { try await store.createRun(sampleRun(id: id, created: Double(index))) }
        return store
    }

    @Test(arguments: [("7f3", "7f3c01"), ("7f3c01", "7f3c01"), ("a", "ab12"), (" ab ", "ab12")])
    func uniquePrefixResolvesToTheFullID(prefix: String, expected: String) async throws {
        let store = try await store(with: ["7f3c01", "ab12"])
        #expect(try await store.resolveRunID(prefix: prefix) == expected)
    }

    @Test func exactIDWinsOverLongerIDsItPrefixes() async throws {
        let store = try await store(with: ["7f3c", "7f3c01"])
        #expect(try await store.resolveRunID(prefix: "7f3c") == "7f3c")
    }

    @Test func ambiguousPrefixListsTheCandidates() async throws {
        let store = try await store(with: ["7f3c01", "7f3d02", "ab12"])
        let error = try await #require(throws: StoreError.self) { try await store.resolveRunID(prefix: "7f") }
        #expect(error.code == .ambiguous)
        #expect(error.message.contains("7f3c01") && error.message.contains("7f3d02"))
        #expect(!error.message.contains("ab12"))
    }

    @Test(arguments: ["zz", "", "7f3c012"])
    func unknownPrefixIsNotFound(prefix: String) async throws {
        let store = try await store(with: ["7f3c01"])
        let error = try await #require(throws: StoreError.self) { try await store.resolveRunID(prefix: prefix) }
        #expect(error.code == .notFound)
    }

    @Test func prefixIsMatchedLiterallyNotAsAPattern() async throws {
        let store = try await store(with: ["a_b", "axb"])
        #expect(try await store.resolveRunID(prefix: "a_") == "a_b")
    }
}
