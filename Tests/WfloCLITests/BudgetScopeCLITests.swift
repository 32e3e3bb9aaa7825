import Foundation
import Synchronization
import Testing
import WfloApp
import WfloCore
import WfloTesting

/// Issue 17 through the real `wflo` executable: `wflo budgets set|rm|(list)`, run tags, refusals
/// by a scope (exit 3), and many processes racing for one scope's room.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BudgetScopeCLITests {
    /// A model billed only per request: every call's worst case is exactly its cost ($0.01), so
    /// how many calls fit a scope is known in advance.
    static let flatFee = """
        name: flat
        budget: 5
        inputs:
          customer: {type: string, default: nobody}
          topics: {type: array, default: [a]}
        tags:
          customer: "{{inputs.customer}}"
          kind: flat
        pricing:
          flat-fee-model: {input_cost_per_token: 0, output_cost_per_token: 0, input_cost_per_request: 0.01, litellm_provider: openai}
        steps:
          - id: calls
            type: llm
            for_each: {items: "{{inputs.topics}}", item_var: topic, max_parallel: 4}
            model: flat-fee-model
            prompt: "Say {{for_each.topic}}"
            max_tokens: 5
        """

    static func write(_ text: String, in directory: URL, name: String = "flat.yaml") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func topics(_ count: Int) -> String {
        "topics=" + JSONValue.array((0..<count).map { .string("t\($0)") }).encoded()
    }

    @Test(arguments: TestJournal.all)
    func budgetsAreSetListedAndRemovedFromTheCLI(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { _, wflo, _ in
            let set = try await wflo.run(["budgets", "set", "research", "--limit", "50", "--period", "day", "--tz", "Europe/Berlin",
                                          "--match", "team=research", "--alert-at", "0.5,0.8,0.95", "--webhook", "https://hooks.example/r"])
            #expect(set.status == 0, "\(set.stderr)")
            #expect(set.stdout.contains("Budget scope 'research': $50.00 per day (Europe/Berlin) for runs tagged team=research"), "\(set.stdout)")
            // A limit below a cent is shown as it is, not rounded to $0.00.
            let tiny = try await wflo.run(["budgets", "set", "tiny", "--limit", "0.001"])
            #expect(tiny.stdout.contains("Budget scope 'tiny': $0.001 in total for every run"), "\(tiny.stdout)")
            #expect(try await wflo.run(["budgets"]).stdout.contains("0.001"))
            #expect(try await wflo.run(["budgets", "rm", "tiny"]).status == 0)
            let list = try await wflo.run(["budgets", "--json"])
            #expect(list.status == 0, "\(list.stderr)")
            let scope = try #require(try JSONValue.parse(list.stdout).arrayValue?.first)
            #expect(scope["name"] == "research" && scope["limit_usd"] == "50.000000" && scope["period"] == "day")
            #expect(scope["spent_usd"] == "0.000000" && scope["reserved_usd"] == "0.000000" && scope["last_period_spent_usd"] == "0.000000")
            #expect(scope["match"] == ["team": "research"] && scope["alert_at"] == ["0.5", "0.8", "0.95"])
            // The webhook's path may be its secret: only its origin is listed.
            #expect(scope["webhook"] == "https://hooks.example/…" && !list.stdout.contains("hooks.example/r"))
            #expect(scope["period_start"]?.stringValue?.hasSuffix("T00:00:00+01:00") == true, "\(list.stdout)")
            #expect(scope["resets_at"]?.stringValue?.hasSuffix("T00:00:00+01:00") == true)
            let table = try await wflo.run(["budgets"])
            #expect(table.stdout.contains("research") && table.stdout.contains("team=research"), "\(table.stdout)")
            #expect(try await wflo.run(["budgets", "rm", "research"]).status == 0)
            let gone = try await wflo.run(["budgets", "rm", "research"])
            #expect(gone.status == 2 && gone.stderr.contains("no budget scope 'research'"))
            #expect(try await wflo.run(["budgets", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        }
    }

    @Test func badInputNamesTheFlag() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let cases: [([String], String)] = [
                (["--limit", "-1"], "--limit"), (["--limit", "ten"], "--limit"), (["--limit", "1", "--tz", "Mars/Olympus"], "--tz"),
                (["--limit", "1", "--alert-at", "0.5,1.5"], "--alert-at"), (["--limit", "1", "--period", "fortnight"], "--period"),
                (["--limit", "1", "--match", "novalue"], "--match"), (["--limit", "1", "--webhook", "ftp://x"], "--webhook"),
            ]
            for (flags, named) in cases {
                let result = try await wflo.run(["budgets", "set", "s"] + flags)
                #expect(result.status == 2 && result.stderr.contains(named), "\(flags): \(result.stderr)")
            }
            #expect(try await wflo.run(["budgets", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        }
    }

    @Test(arguments: TestJournal.all)
    func aRunRefusedByAScopeExits3NamingTheScopeAndWhenItResets(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let file = try Self.write(Self.flatFee, in: directory)
            #expect(try await wflo.run(["budgets", "set", "acme", "--limit", "0.02", "--period", "month", "--match", "customer=acme"]).status == 0)
            // Tags from the file's template and from --tag, shown by status and runs.
            let run = try await wflo.run(["run", file, "--input", "customer=acme", "--input", Self.topics(5), "--tag", "env=test", "--json"])
            #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
            #expect(server.requestCount == 2)
            let result = try JSONValue.parse(run.stdout)
            let error = try #require(result["error"]?.stringValue)
            #expect(error.contains("budget scope 'acme'") && error.contains("per month") && error.contains("it resets at"), "\(error)")
            let runID = try #require(result["run_id"]?.stringValue)
            let status = try JSONValue.parse(try await wflo.run(["status", runID, "--json"]).stdout)
            #expect(status["tags"] == ["customer": "acme", "kind": "flat", "env": "test"])
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            #expect(runs.arrayValue?.first?["tags"]?["customer"] == "acme")
            let scope = try #require(try JSONValue.parse(try await wflo.run(["budgets", "--json"]).stdout).arrayValue?.first)
            #expect(scope["spent_usd"] == "0.020000" && scope["reserved_usd"] == "0.000000")
            // Another customer's run is not held by acme's scope.
            let other = try await wflo.run(["run", file, "--input", "customer=zed", "--input", Self.topics(3), "--json"])
            #expect(other.status == 0, "\(other.stdout)\(other.stderr)")
            #expect(server.requestCount == 5)
        }
    }

    @Test func aBadTagsBlockIsAnErrorWithItsLine() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let file = try Self.write(Self.flatFee.replacingOccurrences(of: "{{inputs.customer}}", with: "{{inputs.client}}"), in: directory)
            let result = try await wflo.run(["validate", file])
            #expect(result.status == 2)
            #expect(result.stderr.contains("flat.yaml:7:") && result.stderr.contains("no input 'client'"), "\(result.stderr)")
            let bad = try await wflo.run(["run", Self.write(Self.flatFee, in: directory), "--tag", "oops"])
            #expect(bad.status == 2 && bad.stderr.contains("--tag 'oops'"))
        }
    }

    /// LiteLLM #34732 and #16011: 16 `wflo run` processes offer 200 calls against a scope that
    /// fits 20; exactly 20 reach the server, and a sampler reading the journal from yet another
    /// connection never sees settled + reserved above the limit.
    @Test("LiteLLM #34732 #16011: 16 processes, 200 calls, a scope that fits 20: exactly 20 calls are made", arguments: TestJournal.all)
    func sixteenProcessesNeverOverspendAScope(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let file = try Self.write(Self.flatFee, in: directory)
            #expect(try await wflo.run(["budgets", "set", "shared", "--limit", "0.20", "--match", "kind=flat"]).status == 0)
            let store = try await JournalLocation.parse(try #require(wflo.environment["WFLO_DB"])).open(creating: false)
            let sampling = Mutex(true)
            let sampler = Task { () -> (samples: Int, worst: Money) in
                var samples = 0
                var worst = Money.zero
                while sampling.withLock({ $0 }) {
                    if let window = try? await store.budgetScopes(at: Date()).first?.window {
                        samples += 1
                        worst = Money.max(worst, window.committed)
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return (samples, worst)
            }
            let processes = try (0..<16).map { index in
                try wflo.start(["run", file, "--input", Self.topics(index < 8 ? 13 : 12), "--json"])
            }
            var results: [WfloProcess.Result] = []
            for process in processes { results.append(await WfloProcess.finish(process)) }
            sampling.withLock { $0 = false }
            let sampled = await sampler.value
            await store.close()

            #expect(server.requestCount == 20, "\(results.map(\.stderr))")
            #expect(results.allSatisfy { $0.status == 0 || $0.status == 3 }, "\(results.map(\.stderr))")
            #expect(sampled.samples > 0 && sampled.worst <= Money(string: "0.20")!, "worst sampled commitment \(sampled.worst)")
            let scope = try #require(try JSONValue.parse(try await wflo.run(["budgets", "--json"]).stdout).arrayValue?.first)
            #expect(scope["spent_usd"] == "0.200000" && scope["reserved_usd"] == "0.000000", "\(scope)")
            // The runs' own ledgers add up to the scope's spend: no overspend anywhere.
            var total = Money.zero
            for result in results {
                let json = try JSONValue.parse(result.stdout)
                total += try #require(json["spent_usd"]?.stringValue.flatMap { Money(string: $0) })
            }
            #expect(total == Money(string: "0.20")!)
        }
    }
}
