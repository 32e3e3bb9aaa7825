import Foundation
import Synchronization
import WfloCore

/// A connection to a Model Context Protocol server that carries JSON-RPC 2.0 requests: a stdio
/// server's pipes (``MCPLineChannel``) or Streamable HTTP (``MCPHTTPChannel``).
public protocol MCPChannel: Sendable {
    /// Sends a request and returns its `result`.
    /// - Throws: ``MCPError`` (the server's JSON-RPC error, a time-out, a closed connection);
    ///   `CancellationError`.
    func request(_ method: String, params: JSONValue, timeout: Double) async throws -> JSONValue
    /// Sends a notification (no answer).
    func notify(_ method: String, params: JSONValue) async throws
    /// Ends the connection (a stdio server's whole process tree is killed).
    func close() async
    /// What the server said about itself that helps a person (a stdio server's last stderr lines).
    var diagnostics: String { get }
}

/// An MCP failure a person can act on.
public struct MCPError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The server answered with a JSON-RPC error.
        case server
        /// No answer within the time-out (the server was stopped).
        case timeout
        /// The connection ended or could not be made.
        case connection
        /// The answer is not what the protocol says.
        case malformed
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// A tool a server offers (`tools/list`).
public struct MCPTool: Sendable, Hashable {
    public var name: String
    public var description: String
    /// The JSON Schema of its arguments, as the server gives it.
    public var inputSchema: JSONValue
    public init(name: String, description: String, inputSchema: JSONValue) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
    }
}

/// The result of `tools/call`.
public struct MCPToolResult: Sendable, Hashable {
    public var content: [JSONValue]
    public var isError: Bool
    public var structured: JSONValue?
    /// `_meta` of the result (where a paid server reports its cost).
    public var meta: JSONValue?

    public init(json: JSONValue) {
        content = json["content"]?.arrayValue ?? []
        isError = json["isError"]?.boolValue ?? false
        structured = json["structuredContent"]
        meta = json["_meta"]
    }

    /// The text parts joined; other parts (images, resources) as their JSON.
    public var text: String {
        content.map { part in
            part["type"]?.stringValue == "text" ? (part["text"]?.stringValue ?? "") : part.encoded(sorted: true)
        }.joined(separator: "\n")
    }

    /// The cost the server reports in `_meta` (`cost_usd`, or `cost` / `wflo/cost_usd`), as
    /// exact decimal text or a number; nil when it reports none.
    public var reportedCost: Money? {
        for key in ["cost_usd", "wflo/cost_usd", "cost"] {
            guard let value = meta?[key] else { continue }
            if let text = value.stringValue, let money = Money(string: text) { return money }
            // A number keeps its JSON lexeme: its digits become the amount exactly.
            if case .number(let lexeme) = value, let money = Money(string: lexeme) { return money }
        }
        return nil
    }
}

/// The client side of the protocol over a channel: the handshake, the tool list, calls.
///
/// A small client of our own rather than `modelcontextprotocol/swift-sdk`: wflo needs only
/// `initialize`, `tools/list` and `tools/call`, over pipes of a process the sandbox launcher
/// owns and over the http transport the engine already checks against egress and records to
/// cassettes; the SDK's transports own their processes and sockets, and its HTTP client pulls in
/// its own stack.
public struct MCPClient: Sendable {
    public let channel: any MCPChannel
    /// The server's `serverInfo` from the handshake.
    public let serverInfo: JSONValue

    public static let protocolVersion = "2025-06-18"

    /// Runs the handshake (`initialize`, then `notifications/initialized`).
    /// - Throws: ``MCPError``.
    public static func connect(_ channel: any MCPChannel, timeout: Double) async throws -> MCPClient {
        let result = try await channel.request("initialize", params: [
            "protocolVersion": .string(protocolVersion),
            "capabilities": .object([:]),
            "clientInfo": ["name": "wflo", "version": "1"],
        ], timeout: timeout)
        guard result["protocolVersion"]?.stringValue != nil else {
            throw MCPError(.malformed, "the server's answer to initialize has no protocolVersion")
        }
        try await channel.notify("notifications/initialized", params: .object([:]))
        return MCPClient(channel: channel, serverInfo: result["serverInfo"] ?? .null)
    }

    /// Every tool the server offers (all pages).
    public func listTools(timeout: Double) async throws -> [MCPTool] {
        var tools: [MCPTool] = []
        var cursor: String?
        repeat {
            let result = try await channel.request("tools/list", params: cursor.map { ["cursor": .string($0)] } ?? .object([:]), timeout: timeout)
            tools += try Self.tools(in: result)
            cursor = result["nextCursor"]?.stringValue
        } while cursor != nil && tools.count < 10_000
        return tools
    }

    /// The tools of a `tools/list` result.
    public static func tools(in result: JSONValue) throws -> [MCPTool] {
        guard let items = result["tools"]?.arrayValue else { throw MCPError(.malformed, "the answer to tools/list has no 'tools' list") }
        return try items.map { item in
            guard let name = item["name"]?.stringValue else { throw MCPError(.malformed, "a tool in the answer to tools/list has no name") }
            return MCPTool(name: name, description: item["description"]?.stringValue ?? "",
                           inputSchema: item["inputSchema"] ?? ["type": "object", "properties": .object([:])])
        }
    }

    /// Calls a tool. A tool's own failure is a result with `isError`; a protocol failure throws.
    public func callTool(_ name: String, arguments: JSONValue, timeout: Double) async throws -> MCPToolResult {
        MCPToolResult(json: try await channel.request("tools/call", params: ["name": .string(name), "arguments": arguments], timeout: timeout))
    }
}

// MARK: - stdio

/// What a stdio channel reads and writes: a process's stdout lines and stdin.
public protocol MCPLinePipe: Sendable {
    var lines: AsyncStream<String> { get }
    /// - Throws: when the process no longer reads.
    func send(_ line: String, timeout: Double) throws
    func close() async
    /// Why the process ended and its last stderr lines, for messages.
    var diagnostics: String { get }
}

/// JSON-RPC over newline-delimited JSON (the MCP stdio transport).
public final class MCPLineChannel: MCPChannel {
    private let pipe: any MCPLinePipe
    private let state = Mutex(State())
    private let reader: Mutex<Task<Void, Never>?> = Mutex(nil)

    private struct State {
        var nextID = 1
        var waiting: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
        var closed: String?
    }

    public init(pipe: any MCPLinePipe) {
        self.pipe = pipe
        let task = Task { [weak self, lines = pipe.lines] in
            for await line in lines {
                guard let self else { return }
                self.receive(line)
            }
            self?.fail(MCPError(.connection, "the server ended before it answered"))
        }
        reader.withLock { $0 = task }
    }

    public var diagnostics: String { pipe.diagnostics }

    private func receive(_ line: String) {
        guard let message = try? JSONValue.parse(line), case .object = message else { return }  // servers may log on stdout
        if message["method"] != nil {
            // A request of the server's (ping, roots/list…): answered, never left hanging.
            if let id = message["id"] {
                let answer: JSONValue = message["method"]?.stringValue == "ping"
                    ? ["jsonrpc": "2.0", "id": id, "result": .object([:])]
                    : ["jsonrpc": "2.0", "id": id, "error": ["code": -32601, "message": "wflo does not offer this"]]
                try? pipe.send(answer.encoded(), timeout: 1)
            }
            return
        }
        guard let id = message["id"]?.intValue else { return }
        let continuation = state.withLock { $0.waiting.removeValue(forKey: id) }
        if let error = message["error"] {
            continuation?.resume(throwing: MCPError(.server, "the server answered with an error: \(error["message"]?.stringValue ?? error.encoded()) (code \(error["code"]?.intValue ?? 0))"))
        } else {
            continuation?.resume(returning: message["result"] ?? .null)
        }
    }

    private func fail(_ error: MCPError) {
        let waiting = state.withLock { state -> [CheckedContinuation<JSONValue, any Error>] in
            if state.closed == nil { state.closed = error.message }
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume(throwing: error) }
    }

    public func request(_ method: String, params: JSONValue, timeout: Double) async throws -> JSONValue {
        let id = state.withLock { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        let message: JSONValue = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params]
        return try await withThrowingTaskGroup(of: JSONValue.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        let closed = self.state.withLock { state -> String? in
                            if let closed = state.closed { return closed }
                            state.waiting[id] = continuation
                            return nil
                        }
                        if let closed {
                            continuation.resume(throwing: MCPError(.connection, closed + self.diagnosticsSuffix))
                            return
                        }
                        do {
                            try self.pipe.send(message.encoded(), timeout: timeout)
                        } catch {
                            self.state.withLock { $0.waiting.removeValue(forKey: id) }?
                                .resume(throwing: MCPError(.connection, "cannot send to the server: \(error)" + self.diagnosticsSuffix))
                        }
                    }
                } onCancel: {
                    self.state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(throwing: CancellationError())
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                throw MCPError(.timeout, "the server did not answer \(method) within \(DurationText.describe(timeout))")
            }
            do {
                let first = try await group.next()!
                group.cancelAll()
                return first
            } catch let error as MCPError where error.kind == .connection {
                group.cancelAll()
                throw MCPError(.connection, error.message.hasSuffix(diagnosticsSuffix) ? error.message : error.message + diagnosticsSuffix)
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    private var diagnosticsSuffix: String {
        let text = pipe.diagnostics
        return text.isEmpty ? "" : "; " + text
    }

    public func notify(_ method: String, params: JSONValue) async throws {
        let message: JSONValue = ["jsonrpc": "2.0", "method": .string(method), "params": params]
        do {
            try pipe.send(message.encoded(), timeout: 5)
        } catch {
            throw MCPError(.connection, "cannot send to the server: \(error)" + diagnosticsSuffix)
        }
    }

    public func close() async {
        await pipe.close()
        reader.withLock { $0 }?.cancel()
        fail(MCPError(.connection, "the connection was closed"))
    }
}

// MARK: - Streamable HTTP

/// JSON-RPC over Streamable HTTP: each message is a POST; the answer is JSON, or an SSE stream
/// read to its end whose event with the request's id is the answer. The `Mcp-Session-Id` the
/// server gives at `initialize` is sent with every later message.
public final class MCPHTTPChannel: MCPChannel {
    private let url: String
    private let headers: [HTTPExchange.Header]
    private let transport: any HTTPStepTransport
    private let state = Mutex<(nextID: Int, session: String?)>((1, nil))
    /// Bytes an answer may have.
    public static let maximumResponseBytes = 16 << 20

    /// - Parameters:
    ///   - send: the http steps' transport (the caller checks `url` against egress first).
    public init(url: String, headers: [HTTPExchange.Header], transport: any HTTPStepTransport) {
        self.url = url
        self.headers = headers
        self.transport = transport
    }

    public var diagnostics: String { "" }

    private func post(_ message: JSONValue, timeout: Double) async throws -> HTTPExchange.Response {
        var headers = self.headers + [HTTPExchange.Header("Content-Type", "application/json"),
                                      HTTPExchange.Header("Accept", "application/json, text/event-stream")]
        if let session = state.withLock({ $0.session }) {
            headers.append(HTTPExchange.Header("Mcp-Session-Id", session))
            headers.append(HTTPExchange.Header("MCP-Protocol-Version", MCPClient.protocolVersion))
        }
        let response: HTTPExchange.Response
        do {
            response = try await transport.send(HTTPExchange.Request(method: "POST", url: url, headers: headers, body: Array(message.encoded().utf8)),
                                                timeout: .milliseconds(Int64(timeout * 1000)), maximumResponseBytes: Self.maximumResponseBytes)
        } catch let error as ProviderError where error.kind == .timeout {
            throw MCPError(.timeout, "the server at \(url) did not answer within \(DurationText.describe(timeout))")
        } catch let error as ProviderError {
            throw MCPError(.connection, "the server at \(url): \(error.description)")
        }
        if let session = response.headers.first(where: { $0.name.lowercased() == "mcp-session-id" })?.value {
            state.withLock { $0.session = session }
        }
        guard (200..<300).contains(response.status) else {
            let body = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw MCPError(.connection, "the server at \(url) answered HTTP \(response.status): \(body)")
        }
        return response
    }

    public func request(_ method: String, params: JSONValue, timeout: Double) async throws -> JSONValue {
        let id = state.withLock { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        let response = try await post(["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params], timeout: timeout)
        let text = String(decoding: response.body, as: UTF8.self)
        let contentType = response.headers.first { $0.name.lowercased() == "content-type" }?.value.lowercased() ?? ""
        let candidates: [String] = contentType.hasPrefix("text/event-stream") || text.hasPrefix("event:") || text.hasPrefix("data:")
            ? Self.events(in: text) : [text]
        for candidate in candidates {
            guard let message = try? JSONValue.parse(candidate), message["id"]?.intValue == id else { continue }
            if let error = message["error"] {
                throw MCPError(.server, "the server answered with an error: \(error["message"]?.stringValue ?? error.encoded()) (code \(error["code"]?.intValue ?? 0))")
            }
            return message["result"] ?? .null
        }
        throw MCPError(.malformed, "the server at \(url) gave no answer to \(method) (id \(id)) in its response: \(text.prefix(200))")
    }

    /// The `data:` of each event of an SSE body.
    static func events(in text: String) -> [String] {
        var events: [String] = []
        var data: [String] = []
        // "\r\n" is one Character in Swift: lines are split on the normalized text.
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data = []
            } else if line.hasPrefix("data:") {
                data.append(String(line.dropFirst(5).drop { $0 == " " }))
            }
        }
        if !data.isEmpty { events.append(data.joined(separator: "\n")) }
        return events
    }

    public func notify(_ method: String, params: JSONValue) async throws {
        _ = try await post(["jsonrpc": "2.0", "method": .string(method), "params": params], timeout: 30)
    }

    public func close() async {}
}
