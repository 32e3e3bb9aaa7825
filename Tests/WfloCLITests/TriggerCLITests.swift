import Foundation
import Testing
import WfloApp
import WfloCore
import WfloTesting

/// `wflo deploy`, `wflo workflows`, `wflo undeploy` and schedules fired by real `wflo worker`
/// processes sharing one journal (issue 21).
@Suite(.timeLimit(.minutes(5)))
struct TriggerCLITests {
    static let ticker = """
        name: ticker
        budget: 0
        inputs:
          label: {type: string}
        triggers:
          - schedule: {every: 1s, inputs: {label: tick}, catchup: all}
        steps:
          - id: shape
            type: transform
            output: {label: "{{inputs.label}}"}

        """

    /// The ticks (seconds since 1970) of the journal's scheduled runs, in order, duplicates kept.
    static func ticks(_ wflo: WfloProcess) async throws -> [Int] {
        let store = try await WorkerCLITests.journal(wflo)
        let runs = try await store.listRuns(limit: 10_000)
        await store.close()
        return runs.compactMap { $0.trigger.map { Int($0.at.timeIntervalSince1970.rounded()) } }.sorted()
    }

    @Test func deployListsUndeploysAndNamesABadCronsField() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let file = directory.appendingPathComponent("daily.yaml")
            try Self.ticker.replacingOccurrences(of: "{every: 1s, inputs: {label: tick}, catchup: all}",
                                                 with: "{cron: \"0 9 * * MON-FRI\", tz: Europe/Berlin, inputs: {label: daily}}")
                .write(to: file, atomically: true, encoding: .utf8)
            let deployed = try await wflo.run(["deploy", file.path])
            #expect(deployed.status == 0, "\(deployed.output)")
            #expect(deployed.stdout.contains("Deployed ticker v1 (1 trigger)"))
            #expect(try await wflo.run(["deploy", file.path]).stdout.contains("Deployed ticker v2"))
            let listed = try JSONValue.parse(try await wflo.run(["workflows", "--json"]).stdout)
            #expect(listed[0]?["workflow"] == "ticker" && listed[0]?["version"] == 2)
            #expect(listed[0]?["triggers"]?[0]?["trigger"] == "cron 0 9 * * MON-FRI Europe/Berlin")
            let next = try #require(listed[0]?["triggers"]?[0]?["next_fire"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) })
            var berlin = Calendar(identifier: .gregorian)
            berlin.timeZone = TimeZone(identifier: "Europe/Berlin")!
            #expect(berlin.component(.hour, from: next) == 9 && berlin.component(.minute, from: next) == 0)
            #expect(![1, 7].contains(berlin.component(.weekday, from: next)), "a weekday")
            #expect(listed[0]?["last_run"] == .null)

            #expect(try await wflo.run(["undeploy", "ticker"]).status == 0)
            #expect(try await wflo.run(["workflows"]).stdout.contains("No workflow is deployed"))
            let again = try await wflo.run(["undeploy", "ticker"])
            #expect(again.status == 2 && again.stderr.contains("no deployed workflow is named 'ticker'"))

            try Self.ticker.replacingOccurrences(of: "every: 1s", with: "cron: \"0 9 * * MON-FRY\"")
                .write(to: file, atomically: true, encoding: .utf8)
            let bad = try await wflo.run(["deploy", file.path])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("\(file.path):6:"), "\(bad.stderr)")
            #expect(bad.stderr.contains("the day of week field 'MON-FRY' is not valid"), "\(bad.stderr)")
        }
    }

    /// Three workers fire 20 ticks of `every: 1s`: one run per tick. Then every worker stops for
    /// over five ticks; one worker back catches them all up (`catchup: all`), still once each.
    @Test(arguments: TestJournal.all)
    func threeWorkersFireEachTickOnceAndCatchUpAfterAnOutage(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { _, wflo, directory in
            let file = directory.appendingPathComponent("ticker.yaml")
            try Self.ticker.write(to: file, atomically: true, encoding: .utf8)
            #expect(try await wflo.run(["deploy", file.path]).status == 0)
            let workers = try (0..<3).map { try WorkerCLITests.Worker(wflo, ["--concurrency", "2"], log: directory.appendingPathComponent("w\($0).log")) }
            let firstTwenty = try await WorkerCLITests.eventually(120) { try await Self.ticks(wflo).count >= 20 }
            #expect(firstTwenty)
            for worker in workers { _ = await WorkerCLITests.stop(worker) }
            let beforeOutage = try await Self.ticks(wflo)
            #expect(beforeOutage.count >= 20)
            #expect(beforeOutage == Array(beforeOutage[0]...beforeOutage[beforeOutage.count - 1]), "each tick once, none missed")

            try await Task.sleep(for: .milliseconds(6500))
            let outageEnd = Int(Date().timeIntervalSince1970)
            let back = try WorkerCLITests.Worker(wflo, [], log: directory.appendingPathComponent("back.log"))
            let caughtUp = try await WorkerCLITests.eventually(60) { (try await Self.ticks(wflo).last ?? 0) >= outageEnd }
            #expect(caughtUp)
            _ = await WorkerCLITests.stop(back)
            #expect(try await wflo.run(["undeploy", "ticker"]).status == 0)
            let ticks = try await Self.ticks(wflo)
            #expect(ticks.count - beforeOutage.count >= 6, "the outage's ticks fired")
            #expect(ticks == Array(ticks[0]...ticks[ticks.count - 1]), "each tick once, none missed, across the outage")
            // A scheduled run says so in `runs --json` and `status --json`, and ran to its end.
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json", "--limit", "1"]).stdout)
            #expect(runs[0]?["trigger"]?["kind"] == "schedule")
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let status = try JSONValue.parse(try await wflo.run(["status", runID, "--json"]).stdout)
            #expect(status["trigger"]?["kind"] == "schedule")
            #expect(status["trigger"]?["at"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) } != nil)
        }
    }
}
