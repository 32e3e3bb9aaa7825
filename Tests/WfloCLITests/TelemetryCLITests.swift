import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// Traces of real `wflo` processes as an independent OTLP/HTTP receiver decodes them: the span
/// trees of the examples, every token count and cost against the journal, one trace across a
/// kill and a resume, and a dead collector that changes nothing but a log line.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct TelemetryCLITests {
    static let batch = WfloProcess.repositoryRoot.appendingPathComponent("Examples/batch/workflow.yaml").path
    static let batchCassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/batch/cassette.json").path

    static func withReceiver<T>(delay: Double = 0, _ body: (OTLPReceiver) async throws -> T) async throws -> T {
        let receiver = try await OTLPReceiver.start(delay: delay)
        do {
            let result = try await body(receiver)
            await receiver.stop()
            return result
        } catch {
            await receiver.stop()
            throw error
        }
    }

    static func exporting(to receiver: OTLPReceiver) -> [String: String] {
        ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "wflo-test"]
    }

    /// The journal's attempts of a run, read from its SQLite file.
    static func attempts(_ directory: URL, runID: String) async throws -> [AttemptRecord] {
        let store = try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path)
        return try await store.journal(runID: runID).attempts
    }

    static func journal(_ directory: URL, runID: String) async throws -> RunJournal {
        try await SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path).journal(runID: runID)
    }

    /// Every settled model call's span carries the journal's exact cost and token counts, and
    /// the costs on the trace add up to the run's spend: nothing counted twice.
    static func expectLeafSpansMatch(_ spans: [OTLPReceiver.Span], _ attempts: [AttemptRecord]) {
        let chats = spans.filter { $0.string("gen_ai.operation.name") == "chat" }
        let paid = attempts.filter { $0.model != nil && !$0.cacheHit }
        #expect(chats.count == paid.count, "\(chats.map(\.name)) vs \(paid.map(\.stepID))")
        for attempt in paid {
            let span = chats.first { $0.string("wflo.step.id") == attempt.stepID && $0.int("wflo.attempt") == attempt.number }
            guard let span else {
                Issue.record("no chat span for \(attempt.stepID) attempt \(attempt.number)")
                continue
            }
            #expect(span.name == "chat \(attempt.model ?? "")")
            #expect(span.string("wflo.cost_usd") == attempt.cost?.description, "\(attempt.stepID)")
            #expect(span.string("wflo.reserved_usd") == attempt.reserved.description, "\(attempt.stepID)")
            #expect(span.int("gen_ai.usage.input_tokens") == attempt.usage?.inputTokens, "\(attempt.stepID)")
            #expect(span.int("gen_ai.usage.output_tokens") == attempt.usage?.outputTokens, "\(attempt.stepID)")
            #expect(span.int("gen_ai.usage.cache_read.input_tokens") == attempt.usage?.cachedInputTokens)
            #expect(span.string("gen_ai.request.model") == attempt.model)
            #expect(span.string("gen_ai.provider.name") != nil)
            #expect(span.string("gen_ai.response.model") != nil)
            #expect(span.int("gen_ai.request.max_tokens") != nil)
            #expect(span.attributes["gen_ai.response.finish_reasons"]?.arrayValue?.isEmpty == false)
            #expect(span.string("wflo.pricing.version") != nil)
            #expect(span.kind == 3, "a model call is a client span")
        }
        // Cost only on leaf spans: the sum over the whole trace is the journal's.
        let onTrace = spans.compactMap { $0.string("wflo.cost_usd").flatMap { Money(string: $0) } }.sum()
        #expect(onTrace == paid.compactMap(\.cost).sum())
        let parents = Set(spans.map(\.parentSpanID))
        for span in spans where span.string("wflo.cost_usd") != nil {
            #expect(!parents.contains(span.spanID), "\(span.name) has cost and children")
        }
    }

    @Test func theBriefIsOneTraceWhoseModelCallsCarryTheJournalsTokensAndCosts() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let run = try await wflo.run(["run", CLITests.brief, "--json"], extraEnvironment: Self.exporting(to: receiver))
                #expect(run.status == 0, "\(run.stderr)")
                let runID = try #require(try JSONValue.parse(run.stdout)["run_id"]?.stringValue)
                let spans = try receiver.spans()
                #expect(Set(spans.map(\.traceID)).count == 1)
                let root = try #require(spans.first { $0.parentSpanID.isEmpty })
                #expect(root.name == "invoke_workflow brief")
                #expect(root.string("gen_ai.workflow.name") == "brief")
                #expect(root.string("wflo.run.id") == runID)
                #expect(root.string("wflo.budget_usd") == "0.1")
                #expect(root.string("wflo.run.status") == "completed")
                #expect(root.attributes["service.name"] == nil, "resource attributes are not span attributes")
                let steps = spans.filter { $0.parentSpanID == root.spanID }
                #expect(Set(steps.map(\.name)) == ["step outline", "step facts", "step draft"])
                for step in steps {
                    let children = spans.filter { $0.parentSpanID == step.spanID }
                    #expect(children.count == 1 && children[0].name.hasPrefix("chat "), "\(step.name): \(children.map(\.name))")
                }
                let attempts = try await Self.attempts(directory, runID: runID)
                Self.expectLeafSpansMatch(spans, attempts)
                #expect(root.string("wflo.spent_usd") == attempts.compactMap(\.cost).sum().description)
                // The run's trace context is journaled with it.
                let journal = try await Self.journal(directory, runID: runID)
                let traceparent = journal.events.first { $0.kind == .runStarted }?.data["traceparent"]?.stringValue
                #expect(traceparent == "00-\(root.traceID)-\(root.spanID)-01")
                // OTLP metrics, flushed at exit: the spend per model is the journal's.
                let points = try receiver.metricPoints().filter { $0["name"] == "wflo_cost_usd_total" }
                for model in Set(attempts.compactMap(\.model)) {
                    let journaled = attempts.filter { $0.model == model }.compactMap(\.cost).sum()
                    let point = try #require(points.last { $0["attributes"]?["model"]?.stringValue == model }, "no cost metric for \(model)")
                    #expect(point["attributes"]?["workflow"] == "brief")
                    #expect(abs((point["value"]?.doubleValue ?? -1) - (Double(journaled.description) ?? 0)) < 1e-12)
                }
            }
        }
    }

    /// A run of thousands of quick steps loses no span while the collector is slow to answer:
    /// swift-otel's default queue (2,048 spans, one 512-span batch per tick) dropped what the
    /// engine ended meanwhile (a release 3,000-step chain lost spans even to a quick collector).
    @Test func aRunOfThousandsOfQuickStepsLosesNoSpanToASlowCollector() async throws {
        let steps = 5_000
        var yaml = "name: long-chain\nbudget: 0\nsteps:\n  - id: s0\n    type: transform\n    output: {n: 0}\n"
        for i in 1..<steps { yaml += "  - id: s\(i)\n    type: transform\n    depends_on: [s\(i - 1)]\n    output: {n: \(i)}\n" }
        try await Self.withReceiver(delay: 1) { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let file = directory.appendingPathComponent("long.yaml")
                try yaml.write(to: file, atomically: true, encoding: .utf8)
                let run = try await wflo.run(["run", file.path, "--json"], extraEnvironment: Self.exporting(to: receiver))
                #expect(run.status == 0, "\(run.stderr)")
                #expect(!run.stderr.contains("dropped"), "\(run.stderr)")
                let spans = try receiver.spans()
                #expect(spans.filter { $0.name.hasPrefix("step s") }.count == steps)
                #expect(spans.filter { $0.parentSpanID.isEmpty }.count == 1)
            }
        }
    }

    @Test func forEachItemsAndSubWorkflowStepsNestUnderTheirStep() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let run = try await wflo.run(["run", Self.batch, "--replay", Self.batchCassette, "--json"],
                                             extraEnvironment: Self.exporting(to: receiver))
                #expect(run.status == 0, "\(run.stderr)")
                let runID = try #require(try JSONValue.parse(run.stdout)["run_id"]?.stringValue)
                let spans = try receiver.spans()
                #expect(Set(spans.map(\.traceID)).count == 1)
                let root = try #require(spans.first { $0.parentSpanID.isEmpty })
                #expect(root.name == "invoke_workflow batch")
                let listings = try #require(spans.first { $0.name == "step listings" })
                #expect(listings.parentSpanID == root.spanID)
                let items = spans.filter { $0.parentSpanID == listings.spanID }
                #expect(items.compactMap { $0.int("wflo.for_each.index") }.sorted() == [0, 1, 2, 3])
                for item in items {
                    let index = item.int("wflo.for_each.index") ?? -1
                    let inner = spans.filter { $0.parentSpanID == item.spanID }
                    // The sub-workflow's own steps, journaled under the item's id.
                    #expect(inner.map(\.name).contains("step listings[\(index)]/describe"), "\(inner.map(\.name))")
                    let describe = try #require(inner.first { $0.name == "step listings[\(index)]/describe" })
                    #expect(spans.contains { $0.parentSpanID == describe.spanID && $0.name == "chat gpt-4o-mini" })
                }
                Self.expectLeafSpansMatch(spans, try await Self.attempts(directory, runID: runID))
            }
        }
    }

    @Test func anAgentRunPausedForApprovalAndResumedIsOneTraceWithItsToolCalls() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let environment = Self.exporting(to: receiver).merging(["OPENAI_BASE_URL": "http://127.0.0.1:9/v1"]) { _, new in new }
                let first = try await wflo.run(["run", AgentCLITests.example, "--replay", AgentCLITests.cassette, "--no-wait", "--json"],
                                               extraEnvironment: environment)
                #expect(first.status == 4, "\(first.stderr)")
                let runID = try #require(try JSONValue.parse(first.stdout)["run_id"]?.stringValue)
                // Exit 4 flushed the spans before the process ended.
                let before = try receiver.spans()
                #expect(before.contains { $0.name == "invoke_workflow city-research" })
                #expect(before.contains { $0.name == "invoke_agent researcher" })
                let approve = try await wflo.run(["approve", "\(runID.prefix(8))/researcher/3/save_note", "--comment", "fine"])
                #expect(approve.status == 0, "\(approve.stderr)")
                let resumed = try await wflo.run(["resume", runID, "--replay", AgentCLITests.cassette, "--json"], extraEnvironment: environment)
                #expect(resumed.status == 0, "\(resumed.stderr)")

                let spans = try receiver.spans()
                #expect(Set(spans.map(\.traceID)).count == 1, "the resumed run continues the first process's trace")
                let roots = spans.filter { $0.name == "invoke_workflow city-research" }
                #expect(roots.count == 2)
                let first0 = try #require(roots.first { $0.parentSpanID.isEmpty })
                #expect(roots.contains { $0.parentSpanID == first0.spanID }, "the resumed root hangs under the first")
                let tools = spans.filter { $0.string("gen_ai.operation.name") == "execute_tool" }
                #expect(Set(tools.compactMap { $0.string("gen_ai.tool.name") }).isSuperset(of: ["fetch_page", "compute"]))
                #expect(tools.allSatisfy { $0.string("gen_ai.tool.call.id") != nil })
                let compute = try #require(tools.first { $0.string("gen_ai.tool.name") == "compute" })
                let sandbox = try #require(spans.first { $0.parentSpanID == compute.spanID })
                #expect(sandbox.int("process.exit.code") == 0)
                let fetch = try #require(tools.first { $0.string("gen_ai.tool.name") == "fetch_page" })
                let http = try #require(spans.first { $0.parentSpanID == fetch.spanID })
                #expect(http.string("http.request.method") == "GET")
                #expect(http.int("http.response.status_code") == 200)
                #expect(http.string("url.full")?.hasPrefix("http://127.0.0.1") == true)
                let approval = try #require(spans.first { $0.name.hasPrefix("await_approval ") && $0.string("wflo.approval.status") == "approved" })
                #expect(approval.string("wflo.approval.decided_by") != nil)
                Self.expectLeafSpansMatch(spans, try await Self.attempts(directory, runID: runID))
            }
        }
    }

    @Test func aRunKilledAndResumedIsOneTrace() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let crashed = try await wflo.run(["run", CLITests.brief],
                                                 extraEnvironment: Self.exporting(to: receiver).merging(["WFLO_FAULT_KILL_AT": "completed:facts"]) { _, new in new })
                #expect(crashed.killedBySignal && crashed.status == SIGKILL, "\(crashed.stderr)")
                let runID = try await CrashTests.onlyRunID(wflo)
                let journaled = try #require(try await Self.journal(directory, runID: runID).events
                    .first { $0.kind == .runStarted }?.data["traceparent"]?.stringValue)
                let resumed = try await wflo.run(["resume", String(runID.prefix(8)), "--json"], extraEnvironment: Self.exporting(to: receiver))
                #expect(resumed.status == 0, "\(resumed.stderr)")
                let spans = try receiver.spans()
                let parts = journaled.split(separator: "-")
                #expect(spans.allSatisfy { $0.traceID == parts[1] }, "\(Set(spans.map(\.traceID))) vs \(journaled)")
                let root = try #require(spans.first { $0.name == "invoke_workflow brief" && $0.string("wflo.run.status") == "completed" })
                #expect(root.parentSpanID == parts[2], "the resumed root is a child of the killed process's root")
                #expect(spans.contains { $0.name == "step draft" && $0.parentSpanID == root.spanID })
            }
        }
    }

    /// The first worker's root span is the trace: it is journaled (`run_traced`) at the run's first
    /// start, and the roots of the workers that continue the run after each decision hang under it.
    @Test func aSubmittedRunDrivenByTwoWorkersAcrossApprovalsIsOneTrace() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let publish = WfloProcess.repositoryRoot.appendingPathComponent("Examples/publish/workflow.yaml").path
                let runID = try await WorkerCLITests.submit(wflo, [publish])
                let first = try WorkerCLITests.Worker(wflo, [], log: directory.appendingPathComponent("w1.log"),
                                                      extraEnvironment: Self.exporting(to: receiver))
                #expect(try await WorkerCLITests.eventually(30) { first.events("finished").count == 1 })
                #expect(first.events("finished").first?["status"] == "waiting_approval")
                #expect(await WorkerCLITests.stop(first).status == 0)
                let traced = try #require(try await Self.journal(directory, runID: runID).events
                    .first { $0.kind == .runTraced }?.data["traceparent"]?.stringValue)

                let approved = try await wflo.run(["approve", "\(runID)/review", "--as", "ana"])
                #expect(approved.status == 0, "\(approved.output)")
                let second = try WorkerCLITests.Worker(wflo, [], log: directory.appendingPathComponent("w2.log"),
                                                       extraEnvironment: Self.exporting(to: receiver))
                #expect(try await WorkerCLITests.eventually(30) { second.events("finished").count == 1 })
                let published = try await wflo.run(["approve", "\(runID)/publish", "--as", "ana"])
                #expect(published.status == 0, "\(published.output)")
                #expect(try await WorkerCLITests.eventually(30) { second.events("finished").count == 2 })
                #expect(second.events("finished").last?["status"] == "completed")
                #expect(await WorkerCLITests.stop(second).status == 0)

                let spans = try receiver.spans()
                let parts = traced.split(separator: "-").map(String.init)
                #expect(Set(spans.map(\.traceID)) == [parts[1]], "every process's spans are on the journaled trace")
                let roots = spans.filter { $0.name == "invoke_workflow publish" }
                #expect(roots.count == 3, "\(roots.map(\.spanID))")
                let firstRoot = try #require(roots.first { $0.parentSpanID.isEmpty })
                #expect(firstRoot.spanID == parts[2], "the journaled context is the first worker's root")
                #expect(roots.filter { $0.parentSpanID == firstRoot.spanID }.count == 2, "each later root hangs under the first")
                #expect(spans.contains { $0.name == "step publish" }, "the resumed part was exported too")
            }
        }
    }

    @Test func aSubmittersTraceparentIsTheParentOfEveryWorkersRoot() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, directory in
                let bad = try await wflo.run(["submit", CLITests.brief, "--traceparent", "00-abc-01"])
                #expect(bad.status == 2)
                #expect(bad.stderr.contains("--traceparent '00-abc-01' is not a W3C traceparent"), "\(bad.stderr)")
                let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                let submitted = try await wflo.run(["submit", CLITests.brief, "--json"], extraEnvironment: ["TRACEPARENT": parent])
                #expect(submitted.status == 0, "\(submitted.stderr)")
                let runID = try #require(try JSONValue.parse(submitted.stdout)["run_id"]?.stringValue)
                let worker = try WorkerCLITests.Worker(wflo, [], log: directory.appendingPathComponent("w.log"),
                                                       extraEnvironment: Self.exporting(to: receiver))
                #expect(try await WorkerCLITests.eventually(30) { worker.events("finished").count == 1 })
                #expect(worker.events("finished").first?["status"] == "completed")
                #expect(await WorkerCLITests.stop(worker).status == 0)
                let spans = try receiver.spans()
                #expect(!spans.isEmpty)
                #expect(spans.allSatisfy { $0.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" }, "\(Set(spans.map(\.traceID)))")
                #expect(spans.first { $0.name == "invoke_workflow brief" }?.parentSpanID == "00f067aa0ba902b7")
                let journal = try await Self.journal(directory, runID: runID)
                #expect(journal.events.first { $0.kind == .runStarted }?.data["traceparent"]?.stringValue == parent)
                #expect(!journal.events.contains { $0.kind == .runTraced }, "the submitter's context is the run's trace")
            }
        }
    }

    @Test func aDeadCollectorChangesNothingButALogLine() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let plain = try await wflo.run(["run", CLITests.brief, "--json"])
            let dead = try await wflo.run(["run", CLITests.brief, "--json"], extraEnvironment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"])
            #expect(dead.status == 0, "\(dead.stderr)")
            let a = try JSONValue.parse(plain.stdout), b = try JSONValue.parse(dead.stdout)
            #expect(a["outputs"] == b["outputs"])
            #expect(a["settled_usd"] == b["settled_usd"])
            #expect(dead.stderr.contains("telemetry") || dead.stderr.contains("export"), "a log line says the spans were not delivered: \(dead.stderr)")
            #expect(dead.stderr.split(separator: "\n").count <= plain.stderr.split(separator: "\n").count + 3)
        }
    }

    @Test func aBudgetRefusalIsAnEventOnTheStepSpanWithTheNumbersAndExit3Flushes() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { server, wflo, _ in
                let run = try await wflo.run(["run", CLITests.brief, "--budget", "0.0001", "--json"], extraEnvironment: Self.exporting(to: receiver))
                #expect(run.status == 3, "\(run.stderr)")
                #expect(server.requestCount == 0)
                let spans = try receiver.spans()
                let root = try #require(spans.first { $0.name == "invoke_workflow brief" })
                #expect(root.string("wflo.run.status") == "budget_exceeded")
                #expect(root.statusCode == 2, "an error status")
                let refusals = spans.flatMap { span in span.events.filter { $0.name == "wflo.budget_refused" }.map { (span, $0) } }
                #expect(!refusals.isEmpty)
                for (span, event) in refusals {
                    #expect(span.name.hasPrefix("step "))
                    #expect(event.attributes["wflo.budget.scope"] == "run")
                    #expect(event.attributes["wflo.worst_case_usd"]?.stringValue.flatMap { Money(string: $0) }.map { $0 > Money(string: "0.0001")! } == true)
                    #expect(event.attributes["gen_ai.request.model"] != nil)
                }
                #expect(!spans.contains { $0.string("gen_ai.operation.name") == "chat" }, "nothing was sent")
            }
        }
    }

    @Test func aBadTraceparentIsAUsageErrorNamingIt() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let given = try await wflo.run(["run", CLITests.brief, "--traceparent", "00-abc-01"])
            #expect(given.status == 2)
            #expect(given.stderr.contains("--traceparent '00-abc-01' is not a W3C traceparent"))
            let inherited = try await wflo.run(["run", CLITests.brief], extraEnvironment: ["TRACEPARENT": "nope"])
            #expect(inherited.status == 2)
            #expect(inherited.stderr.contains("TRACEPARENT 'nope'"))
        }
    }

    @Test func aCallersTraceparentBecomesTheRunsParent() async throws {
        try await Self.withReceiver { receiver in
            try await CLITests.withServer { _, wflo, _ in
                let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                let run = try await wflo.run(["run", CLITests.brief, "--traceparent", parent], extraEnvironment: Self.exporting(to: receiver))
                #expect(run.status == 0, "\(run.stderr)")
                let spans = try receiver.spans()
                #expect(spans.allSatisfy { $0.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" })
                #expect(spans.first { $0.name == "invoke_workflow brief" }?.parentSpanID == "00f067aa0ba902b7")
            }
        }
    }
}
