import NIOCore
import NIOHTTP1
import NIOPosix
import WfloCore

/// A real HTTP/1.1 server on 127.0.0.1 speaking the OpenAI chat-completions and Anthropic
/// messages wire formats, for tests over real loopback HTTP.
///
/// It runs on its own event loop thread, so a test may point a child process (`wflo run`) at it
/// through `OPENAI_BASE_URL=baseURLOpenAI` and `ANTHROPIC_BASE_URL=baseURLAnthropic`.
///
/// By default every request gets a deterministic answer derived from its prompt (see
/// ``Behavior/reply(text:promptTokens:completionTokens:cachedTokens:cacheWrite5mTokens:cacheWrite1hTokens:reasoningTokens:finishReason:)``).
/// Tests script other answers — errors, delays, malformed JSON, dropped connections, hangs —
/// with ``enqueue(_:path:)`` and ``on(promptContaining:_:times:)``, and check what was sent with
/// ``requests()`` and ``requestCount``.
///
/// ```swift
/// let server = try await FakeLLMServer.start()
/// defer { Task { await server.shutdown() } }
/// server.enqueue(.rateLimited(retryAfter: "2"), path: FakeLLMServer.openAIPath)
/// server.on(promptContaining: "slow step", .delay(.seconds(5)))
/// ```
///
/// Every request is recorded when it arrives, before it is answered, including requests that
/// are rejected (404, 401, 400), hang or are dropped.
public final class FakeLLMServer: Sendable {
    /// `POST` path of OpenAI chat completions.
    public static let openAIPath = "/v1/chat/completions"
    /// `POST` path of Anthropic messages.
    public static let anthropicPath = "/v1/messages"

    private let core: FakeLLMServerCore
    private let server: LoopbackServer

    /// The ephemeral port the server listens on.
    public var port: Int { server.port }

    /// `http://127.0.0.1:PORT/v1`, the value for `OPENAI_BASE_URL`.
    public var baseURLOpenAI: String { "http://127.0.0.1:\(port)/v1" }
    /// `http://127.0.0.1:PORT`, the value for `ANTHROPIC_BASE_URL`.
    public var baseURLAnthropic: String { "http://127.0.0.1:\(port)" }

    private init(core: FakeLLMServerCore, server: LoopbackServer) {
        self.core = core
        self.server = server
    }

    /// Starts a server on 127.0.0.1 with an ephemeral port, on an event loop of its own.
    ///
    /// - Parameter requiredAPIKey: when set, requests without `Authorization: Bearer KEY`
    ///   (OpenAI) or `x-api-key: KEY` (Anthropic) get the provider's 401. When nil, any key or
    ///   none is accepted.
    /// - Throws: the socket error when it cannot bind.
    public static func start(requiredAPIKey: String? = nil) async throws -> FakeLLMServer {
        let core = FakeLLMServerCore(requiredAPIKey: requiredAPIKey)
        let server = try await LoopbackServer.start { request, reply in
            perform(core.accept(method: request.method, path: request.path, headers: request.headers, body: request.body), reply)
        }
        return FakeLLMServer(core: core, server: server)
    }

    /// Does what the core decided: answer, wait then act, drop the connection, or never answer.
    private static func perform(_ action: FakeWire.Action, _ reply: LoopbackHTTPHandler.Reply) {
        switch action {
        case .respond(let response):
            reply.send(LoopbackResponse(status: response.status, headers: response.headers, body: response.body))
        case .after(let duration, let next):
            let (seconds, attoseconds) = duration.components
            reply.after(seconds: Double(seconds) + Double(attoseconds) / 1e18) { perform(next, reply) }
        case .drop:
            reply.close()
        case .hang:
            break
        }
    }

    /// Stops listening, closes every open connection (hung requests end with the connection
    /// closed), wakes every ``waitForRequests(_:)`` and stops the event loop. Safe to call twice.
    public func shutdown() async {
        core.wakeAllWaiters()
        await server.shutdown()
    }

    // MARK: - Scripting

    /// Queues behaviors consumed in order by requests to `path` (one of ``openAIPath`` and
    /// ``anthropicPath``), or by requests to either path when `path` is nil. A path's own
    /// queue is served before the queue for every path; when both are empty the default reply
    /// is given.
    public func enqueue(_ behaviors: [Behavior], path: String? = nil) {
        core.state.withLock { state in
            if let path {
                state.queues[path, default: []].append(contentsOf: behaviors)
            } else {
                state.anyPathQueue.append(contentsOf: behaviors)
            }
        }
    }

    /// Queues behaviors consumed in order by requests to `path`, or to either path when nil
    /// (the variadic form of the array-taking `enqueue`).
    public func enqueue(_ behaviors: Behavior..., path: String? = nil) {
        enqueue(behaviors, path: path)
    }

    /// Answers every request whose system or message text contains `substring` with
    /// `behavior` — `times` times, or always when `times` is nil. Rules are checked before the
    /// queues, in the order they were added.
    public func on(promptContaining substring: String, _ behavior: Behavior, times: Int? = nil) {
        core.state.withLock { $0.rules.append(.init(substring: substring, behavior: behavior, remaining: times)) }
    }

    /// Forgets every queued behavior and prompt rule (recorded requests are kept).
    public func clearScript() {
        core.state.withLock { state in
            state.queues = [:]
            state.anyPathQueue = []
            state.rules = []
        }
    }

    // MARK: - What was received

    /// Every request received so far, in arrival order.
    public func requests() -> [RecordedRequest] {
        core.state.withLock { $0.recorded }
    }

    /// The requests received on `path`, in arrival order.
    public func requests(path: String) -> [RecordedRequest] {
        requests().filter { $0.path == path }
    }

    /// How many requests arrived (on any path).
    public var requestCount: Int {
        core.state.withLock { $0.recorded.count }
    }

    /// Returns once at least `count` requests have arrived (or the server shut down): a test
    /// waits on the event instead of sleeping.
    public func waitForRequests(_ count: Int) async {
        await core.waitForRequests(count)
    }
}
