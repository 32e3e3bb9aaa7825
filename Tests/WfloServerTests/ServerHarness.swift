import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloServer
import WfloStore

/// A server over a fresh SQLite journal in a temporary folder, its tokens, and a worker loop
/// driving its runs, for tests in-process (Hummingbird's router test client: no socket).
struct ServerHarness: Sendable {
    let folder: URL
    let store: any JournalStore
    let environment: WfloEnvironment
    let api: ServerAPI
    /// Tokens by role: `read`, `submit`, `approve` (named alice), `admin`.
    let tokens: [TokenRole: String]
    let recorder: CallRecorder

    /// A workflow that asks alice (or anyone) before its free last step.
    static let gatedWorkflow = """
        name: gated
        budget: 0
        inputs:
          topic: {type: string}
        steps:
          - id: draft
            type: transform
            output: {text: "about {{inputs.topic}}"}
          - id: publish
            type: approval
            depends_on: [draft]
            message: "Publish {{inputs.topic}}?"
          - id: done
            type: transform
            depends_on: [publish]
            output: {published: true}
        """

    static let freeWorkflow = "name: free\nbudget: 0\nsteps:\n  - id: shape\n    type: transform\n    output: {done: true}\n"

    /// Runs `body` with a harness; with `workers`, a worker loop drives submitted runs meanwhile.
    /// - Parameter environment: more variables for the server's environment (`WFLO_SECRET_…`).
    static func with(workers: Int = 1, environment extra: [String: String] = [:],
                     _ body: @Sendable (ServerHarness, any TestClientProtocol) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteJournalStore(path: folder.appendingPathComponent("wflo.db").path)
        let pricing = try PricingTable(json: [:], source: "empty table")
        let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing,
                                                                            environment: extra.merging(["HOME": folder.path]) { _, home in home }))
        var api = WfloServerApp.api(environment: environment, observer: SilentObserver())
        // `POST /v1/runs {"path"}` reads workflow files only in here (`--workflows-dir`).
        let workflows = folder.appendingPathComponent("workflows")
        try FileManager.default.createDirectory(at: workflows, withIntermediateDirectories: true)
        api.workflowsFolder = workflows.path
        var tokens: [TokenRole: String] = [:]
        for (role, name) in [(TokenRole.read, "reader"), (.submit, "ci-bot"), (.approve, "alice"), (.admin, "root")] {
            tokens[role] = try await api.tokens.create(name: name, role: role).token
        }
        let harness = ServerHarness(folder: folder, store: store, environment: environment, api: api, tokens: tokens, recorder: CallRecorder())
        let worker = WorkerService(store: store, runs: environment.runs(observer: SilentObserver(), approvals: .noWait),
                                   settings: .init(concurrency: max(workers, 1), pollInterval: 0.05))
        let working = workers > 0 ? Task { try await worker.run() } : nil
        let app = Application(router: WfloServerApp.router(api: api))
        do {
            try await app.test(.router) { client in try await body(harness, client) }
        } catch {
            worker.stop()
            _ = try? await working?.value
            try? await environment.close()
            throw error
        }
        worker.stop()
        try await working?.value
        try await environment.close()
    }

    /// Calls the API as `role` (nil: no token) and returns the status and the body parsed as JSON
    /// (`.null` for a body that is not JSON). `route` is the route's template, recorded for the
    /// OpenAPI check (``CallRecorder``).
    @discardableResult
    func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, route: String, as role: TokenRole? = nil,
              token: String? = nil, body: JSONValue? = nil) async throws -> (status: HTTPResponse.Status, json: JSONValue, text: String) {
        var headers: HTTPFields = [:]
        if let bearer = token ?? role.flatMap({ tokens[$0] }) { headers[.authorization] = "Bearer \(bearer)" }
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers,
                                                body: body.map { ByteBuffer(string: $0.encoded()) })
        recorder.record(method: method.rawValue, route: route, status: response.status.code)
        let text = String(buffer: response.body)
        return (response.status, (try? JSONValue.parse(text)) ?? .null, text)
    }

    /// Polls `condition` until it holds (up to 60 s; the suite on two cores is slow).
    func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .seconds(60) {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting: \(what)")
    }

    /// The run's stored status.
    func status(_ runID: String) async throws -> RunStatus? { try await store.run(id: runID)?.status }
}

/// Every (method, route, status) the tests saw, for the OpenAPI check.
final class CallRecorder: Sendable {
    struct Call: Hashable, Sendable {
        var method: String
        var route: String
        var status: Int
    }

    private let calls = Mutex<Set<Call>>([])

    func record(method: String, route: String, status: Int) {
        _ = calls.withLock { $0.insert(Call(method: method, route: route, status: status)) }
    }

    var all: Set<Call> { calls.withLock { $0 } }
}
