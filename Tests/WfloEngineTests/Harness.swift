import Foundation
import Synchronization
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders
import WfloStore
import WfloTesting

/// A small pricing table with round numbers, so expected costs are easy to write down.
/// `test-gpt` speaks OpenAI's format, `test-claude` Anthropic's.
let testPricing: PricingTable = {
    let json: JSONValue = [
        "test-gpt": ["litellm_provider": "openai", "mode": "chat", "input_cost_per_token": .number("1e-06"),
                     "output_cost_per_token": .number("2e-06"), "cache_read_input_token_cost": .number("5e-07"),
                     "max_output_tokens": 1000],
        "test-claude": ["litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": .number("3e-06"),
                        "output_cost_per_token": .number("1.5e-05"), "cache_read_input_token_cost": .number("3e-07"),
                        "cache_creation_input_token_cost": .number("3.75e-06"), "cache_creation_input_token_cost_above_1hr": .number("6e-06"),
                        "max_output_tokens": 4000],
    ]
    return try! PricingTable(json: json, source: "test table")
}()

/// Collects what the executor reports.
final class RecordingObserver: RunObserver {
    let events = Mutex<[RunProgress]>([])
    func observe(_ progress: RunProgress) { events.withLock { $0.append(progress) } }
    var all: [RunProgress] { events.withLock { $0 } }
}

/// Records the back-off delays the executor asked for, instead of sleeping.
final class Sleeps: Sendable {
    private let delays = Mutex<[Double]>([])
    func append(_ seconds: Double) { delays.withLock { $0.append(seconds) } }
    func withLock<T>(_ body: ([Double]) -> T) -> T { delays.withLock { body($0) } }
}

/// Makes a harness in a new temporary folder, runs `body` with it, and closes it (which removes
/// the folder) whether `body` succeeds or throws. Shared by the engine suites' harnesses.
func withHarness<H, T>(folder: String, make: (URL) async throws -> H, close: (H) async -> Void,
                       _ body: (H) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(folder)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let harness = try await make(directory)
    do {
        let result = try await body(harness)
        await close(harness)
        return result
    } catch {
        await close(harness)
        throw error
    }
}

/// A real loopback LLM server, a real HTTP client, a real SQLite journal (a file in a temp
/// folder), and the executor wired to them. Sleeping is recorded, not done.
struct Harness {
    let server: FakeLLMServer
    let transport: AsyncHTTPTransport
    let store: SQLiteJournalStore
    let observer = RecordingObserver()
    let sleeps = Sleeps()
    let directory: URL

    /// - Parameter connectionsPerHost: the transport's pool per host (the default: as many as calls).
    static func with<T>(connectionsPerHost: Int = AsyncHTTPTransport.defaultMaximumConnectionsPerHost,
                        _ body: (Harness) async throws -> T) async throws -> T {
        let server = try await FakeLLMServer.start()
        return try await withHarness(folder: "wflo-engine", make: { directory in
            Harness(server: server, transport: AsyncHTTPTransport(maximumConnectionsPerHost: connectionsPerHost),
                    store: try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path), directory: directory)
        }, close: { await $0.close() }, body)
    }

    func close() async {
        try? await transport.shutdown()
        await server.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    var endpoints: ProviderEndpoints {
        ProviderEndpoints(openAIBaseURL: server.baseURLOpenAI, openAIKey: "test-key",
                          anthropicBaseURL: server.baseURLAnthropic, anthropicKey: "test-key")
    }

    var llm: LLMClient { LLMClient(transport: transport, endpoints: endpoints) }

    func executor(pricing: PricingTable = testPricing, approvals: ApprovalWaitMode = .wait(pollInterval: 0.02),
                  now: @escaping @Sendable () -> Date = { Date() }) -> Executor {
        let sleeps = self.sleeps
        return Executor(ExecutorConfiguration(store: store, pricing: pricing, llm: llm, observer: observer, now: now,
                                              sleep: { seconds in sleeps.append(seconds) },
                                              random: { 0.5 }, approvals: approvals))
    }

    func run(_ yaml: String, budget: Money? = nil, inputs: [String] = [],
             approvals: ApprovalWaitMode = .wait(pollInterval: 0.02)) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
        let bound = try InputBinder.bind(definition, arguments: inputs, file: nil)
        return try await executor(approvals: approvals).start(definition: definition, source: yaml, path: "test.yaml", inputs: bound,
                                                              budget: budget ?? definition.budget)
    }

    /// The worst case the governor reserves for a one-prompt `test-gpt` call.
    func worstCase(prompt: String, maxTokens: Int, model: String = "test-gpt") throws -> Money {
        try worstCaseEstimate(prompt: prompt, maxTokens: maxTokens, model: model).cost
    }

    func worstCaseEstimate(prompt: String, maxTokens: Int, model: String = "test-gpt") throws -> WorstCaseEstimate {
        let provider: LLMProviderKind = model == "test-claude" ? .anthropic : .openai
        let request = LLMRequest(provider: provider, model: model, messages: [LLMMessage(role: "user", content: prompt)], maxTokens: maxTokens)
        let shape = RequestShape(bodyBytes: llm.encodedBody(request).count, messageCount: 1, maxTokens: maxTokens)
        return try testPricing.worstCase(model: model, request: shape)
    }

    /// A reply, after `delay`, whose usage costs exactly the worst case of `prompt`: settling it
    /// frees nothing of its reservation, so how many calls fit a budget does not depend on
    /// whether one settles before another reserves (it may, when the machine is busy).
    func replyCostingTheWorstCase(prompt: String, maxTokens: Int, after delay: Duration) throws -> FakeLLMServer.Behavior {
        let estimate = try worstCaseEstimate(prompt: prompt, maxTokens: maxTokens)
        return .delay(delay, then: .reply(promptTokens: estimate.inputTokens, completionTokens: estimate.outputTokens))
    }
}
