import Foundation
import Testing
import WfloCore
import WfloKit
import WfloPricing
import WfloTesting

/// The Swift API: a workflow built in code runs on the real engine, journal and loopback server.
@Suite(.timeLimit(.minutes(2)))
struct WorkflowBuilderTests {
    static let pricing: PricingTable = {
        let json: JSONValue = ["test-gpt": ["litellm_provider": "openai", "mode": "chat", "input_cost_per_token": .number("1e-06"),
                                            "output_cost_per_token": .number("2e-06"), "max_output_tokens": 1000]]
        return try! PricingTable(json: json, source: "test table")
    }()

    static func items() throws -> Workflow {
        try Workflow("swift-items", budget: Money(string: "0.50"),
                     inputs: [InputDefinition(name: "topics", type: .array, defaultValue: ["a", "b", "c"]),
                              InputDefinition(name: "mode", defaultValue: "short")],
                     outputs: ["count": "{{steps.summaries.output.count}}", "long": "{{steps.long.output.text}}"]) {
            try Step.llm("summaries", model: "test-gpt", prompt: "Summarize {{for_each.topic}}", maxTokens: 20,
                         forEach: .init("{{inputs.topics}}", as: "topic", maxParallel: 2))
            try Step.llm("long", model: "test-gpt", prompt: "Long form", maxTokens: 20, if: "{{inputs.mode}} == 'full'")
            try Step.transform("done", output: "{{steps.summaries.output.succeeded}} done")
        }
    }

    @Test func aWorkflowBuiltInSwiftRunsOnTheEngine() async throws {
        let server = try await FakeLLMServer.start()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-kit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let runtime = try WfloRuntime(journal: folder.appendingPathComponent("wflo.db").path, pricing: Self.pricing,
                                      environment: ["OPENAI_BASE_URL": server.baseURLOpenAI, "OPENAI_API_KEY": "sk-test"])
        let result = try await runtime.run(try Self.items())
        try await runtime.shutdown()
        await server.shutdown()
        #expect(result.status == .completed, "\(result.error ?? "")")
        #expect(result.outputs?["count"] == .int(3))
        #expect(result.outputs?["long"] == .null)
        #expect(server.requestCount == 3)
        let journal = try await runtime.store.journal(runID: result.runID)
        #expect(journal.steps.first { $0.stepID == "long" }?.status == .skipped)
        #expect(result.ledger.settled > .zero)
    }

    /// A Swift-defined workflow's `http` step goes through the same composition root as `wflo run`:
    /// a real transport over loopback, `{{secrets.NAME}}` from the environment in a header, and the
    /// secret nowhere in the journal's files.
    @Test func anHTTPStepOfASwiftWorkflowReachesTheServiceWithItsSecret() async throws {
        let token = "tok-8c1f3e0a-kit-SECRET"
        let service = try await FakeHTTPService.start()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-kit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let workflow = try Workflow("swift-http", outputs: ["method": "{{steps.call.output.method}}"]) {
            try Step.http("call", method: "POST", url: "\(service.baseURL)/anything/orders", query: ["page": "2"],
                          headers: ["Authorization": "Bearer {{secrets.API_TOKEN}}"], expectStatus: [200],
                          extract: ["method": "/method"], egress: EgressPolicy(allow: ["127.0.0.1"]))
        }
        // HOME is the test's folder: no ~/.wflo/secrets or ~/.wflo/egress.yaml of the machine's user counts.
        let runtime = try WfloRuntime(journal: folder.appendingPathComponent("wflo.db").path, pricing: Self.pricing,
                                      environment: ["HOME": folder.path, "WFLO_SECRET_API_TOKEN": token])
        let result = try await runtime.run(workflow)
        try await runtime.shutdown()
        await service.shutdown()

        #expect(result.status == .completed, "\(result.error ?? "")")
        #expect(result.outputs?["method"] == .string("POST"))
        let requests = service.requests()
        #expect(requests.count == 1)
        #expect(requests.first?.path == "/anything/orders")
        #expect(requests.first?.headers["authorization"] == "Bearer \(token)")
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let bytes = try Data(contentsOf: folder.appendingPathComponent(file))
            #expect(bytes.range(of: Data(token.utf8)) == nil, "the secret is in \(file) in clear")
        }
    }

    @Test func mistakesAreCaughtWhenTheWorkflowIsBuilt() throws {
        #expect(throws: WorkflowError.self) {
            try Workflow("dup") {
                try Step.transform("a", output: "1")
                try Step.transform("a", output: "2")
            }
        }
        #expect { try Workflow("ref") { try Step.transform("a", output: "{{steps.nope.output}}") } } throws: { error in
            "\(error)" == "step 'a': {{steps.nope.output}} names no step 'nope'"
        }
        #expect { try Workflow("cycle") {
            try Step.transform("a", output: "{{steps.b.output}}")
            try Step.transform("b", output: "{{steps.a.output}}")
        } } throws: { error in "\(error)".hasPrefix("dependency cycle: a → b → a") }
        #expect(throws: WorkflowError.self) { try Workflow("if") { try Step.transform("a", output: "1", if: "== 2") } }
    }

    /// The cycle check is the YAML reader's (iterative, linear): a long chain built in Swift
    /// neither overflows the stack nor copies its path at every level, and a cycle at its end is found.
    @Test func aLongChainIsCheckedAndACycleAtItsEndIsFound() throws {
        let n = 20_000
        let chain = try Workflow("long") {
            try Step.transform("s0", output: "0")
            for i in 1..<n { try Step.transform("s\(i)", output: "{{steps.s\(i - 1).output}}", dependsOn: []) }
        }
        #expect(chain.definition.steps.count == n)
        #expect { try Workflow("looped") {
            try Step.transform("s0", output: "{{steps.s\(n - 1).output}}")
            for i in 1..<n { try Step.transform("s\(i)", output: "{{steps.s\(i - 1).output}}") }
        } } throws: { error in "\(error)".hasPrefix("dependency cycle: s0 → s1 → s2") }
    }

    @Test func theSwiftExampleRunsOfflineFromTheBriefCassette() async throws {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [exe, exe.deletingLastPathComponent(), exe.deletingLastPathComponent().deletingLastPathComponent()]
            .map { $0.appendingPathComponent("wflo-swift-example") }
        let example = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) })
        let ended = try await SpawnedProcess(executable: example.path, arguments: [],
                                         environment: ProcessInfo.processInfo.environment).finish()
        let text = ended.stdout + ended.stderr
        #expect(ended.status == 0 && !ended.killedBySignal, "\(text)")
        #expect(text.contains("completed · spent $0.002181 of $0.100000"), "\(text)")
        #expect(text.contains("Solid-state batteries replace the flammable liquid electrolyte"))
    }
}
