import Foundation
import Testing
import WfloCore
import WfloTesting

/// The response cache as a user meets it: real `wflo` processes, one SQLite journal, a loopback provider.
@Suite(.timeLimit(.minutes(2)))
struct CacheCLITests {
    static let workflow = """
        name: cached
        budget: 0.01
        steps:
          - id: answer
            type: llm
            model: gpt-4o-mini
            prompt: "What is 2 + 2?"
            max_tokens: 20
            temperature: 0
        outputs:
          text: "{{steps.answer.output.text}}"
        """

    @Test func aRepeatedRunIsServedFromTheCacheAndEveryCommandShowsIt() async throws {
        try await CLITests.withServer { server, wflo, directory in
            let file = directory.appendingPathComponent("cached.yaml")
            try Self.workflow.write(to: file, atomically: true, encoding: .utf8)

            let first = try JSONValue.parse(try await wflo.run(["run", file.path, "--json"]).stdout)
            let paid = try #require(first["spent_usd"]?.stringValue.flatMap { Money(string: $0) })
            #expect(paid > .zero)
            let second = try await wflo.run(["run", file.path])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.output.contains("from the response cache (saved"))
            #expect(second.output.contains("spent $0.000000"))
            #expect(server.requestCount == 1)

            let stats = try JSONValue.parse(try await wflo.run(["cache", "stats", "--json"]).stdout)
            #expect(stats["entries"] == 1)
            #expect(stats["hits"] == 1)
            #expect(stats["savings_usd"]?.stringValue.flatMap { Money(string: $0) } == paid)
            #expect(stats["namespaces"]?[0]?["namespace"] == "cached")
            let table = try await wflo.run(["cache"])
            #expect(table.stdout.contains("1 hit saved"))

            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let latest = try #require(runs[0]?["run_id"]?.stringValue)
            let report = try JSONValue.parse(try await wflo.run(["report", latest, "--format", "json"]).stdout)
            #expect(report["spent_usd"] == "0.000000")
            #expect(report["totals"]?["cache_hits"] == 1)
            #expect(report["totals"]?["cache_savings_usd"]?.stringValue.flatMap { Money(string: $0) } == paid)

            let bypass = try await wflo.run(["run", file.path, "--no-cache", "--json"])
            #expect(bypass.status == 0)
            #expect(server.requestCount == 2)

            let bad = try await wflo.run(["cache", "clear", "--older-than", "soon"])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("--older-than 'soon' is not a duration"))
            let kept = try await wflo.run(["cache", "clear", "--older-than", "1h"])
            #expect(kept.stdout.contains("Removed 0 cached answers"))
            let cleared = try await wflo.run(["cache", "clear", "--namespace", "cached"])
            #expect(cleared.stdout.contains("Removed 1 cached answer."))
            _ = try await wflo.run(["run", file.path, "--json"])
            #expect(server.requestCount == 3)
        }
    }
}
