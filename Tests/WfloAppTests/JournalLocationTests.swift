import Foundation
import Testing
import WfloApp
import WfloCore

struct JournalLocationTests {
    @Test func aPostgresURLIsAServerAndAnythingElseAFile() {
        #expect(JournalLocation.parse("postgres://u:p@db:5432/wflo") == .postgres(url: "postgres://u:p@db:5432/wflo"))
        #expect(JournalLocation.parse("postgresql://u@db/wflo") == .postgres(url: "postgresql://u@db/wflo"))
        #expect(JournalLocation.parse("POSTGRES://u@db/wflo") == .postgres(url: "POSTGRES://u@db/wflo"))
        #expect(JournalLocation.parse("/tmp/postgres.db") == .sqlite(path: "/tmp/postgres.db"))
        #expect(JournalLocation.parse("runs.db") == .sqlite(path: "runs.db"))
    }

    @Test func theOptionWinsOverTheEnvironmentWhichWinsOverTheDefault() {
        let env = ["WFLO_DB": "postgres://u@db/wflo", "HOME": "/home/ada"]
        #expect(JournalLocation.resolve(option: "/tmp/a.db", environment: env) == .sqlite(path: "/tmp/a.db"))
        #expect(JournalLocation.resolve(option: nil, environment: env) == .postgres(url: "postgres://u@db/wflo"))
        #expect(JournalLocation.resolve(option: nil, environment: ["HOME": "/home/ada"]) == .sqlite(path: "/home/ada/.wflo/wflo.db"))
        #expect(JournalLocation.resolve(option: nil, environment: ["HOME": "/home/ada", "WFLO_DB": ""]) == .sqlite(path: "/home/ada/.wflo/wflo.db"))
    }

    @Test func messagesNeverShowThePassword() {
        #expect(JournalLocation.parse("postgres://wflo:s3cret@db:5432/wflo").description == "postgres://wflo:***@db:5432/wflo")
        #expect(JournalLocation.parse("postgres://wflo@db:5432/wflo").description == "postgres://wflo@db:5432/wflo")
        #expect(JournalLocation.parse("/tmp/x.db").description == "/tmp/x.db")
    }

    @Test func aMissingFileIsNotCreatedByAReadAndIsByAStart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-location-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let location = JournalLocation.sqlite(path: folder.appendingPathComponent("j/wflo.db").path)
        #expect(!location.exists)
        let error = try await #require(throws: AppError.self) { _ = try await location.open(creating: false) }
        #expect(error.code == .notFound && error.message.contains("no journal at \(folder.path)/j/wflo.db"))
        #expect(!FileManager.default.fileExists(atPath: folder.path))
        let store = try await location.open(creating: true)
        try await store.createRun(RunRecord(id: "r", workflowName: "w", workflowPath: "w.yaml", workflowSource: "", inputs: [:],
                                            budget: nil, createdAt: Date(), updatedAt: Date()))
        await store.close()
        #expect(location.exists)
        #expect(try await location.open(creating: false).run(id: "r")?.workflowName == "w")
    }
}
