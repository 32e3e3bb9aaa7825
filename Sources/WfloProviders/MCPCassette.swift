import Foundation
import WfloCore

/// Where MCP stdio servers' answers go or come from with `--record` / `--replay`: the run's
/// cassette, as exchanges of kind `mcp` (`mcp://SERVER/METHOD`, the params as the request body,
/// the result as the response body). `redact` (the secret store's) is applied to both before
/// they are stored or matched. Streamable HTTP servers need none of this: their POSTs go through
/// the http steps' transport, which records and replays them itself.
public enum MCPCassette: Sendable {
    case recording(RecordingTransport, redact: @Sendable (String) -> String)
    case replaying(ReplayTransport, redact: @Sendable (String) -> String)

    static func url(server: String, method: String) -> String { "mcp://\(server)/\(method)" }

    /// Adds an answer to the recording (nothing when replaying).
    public func record(server: String, method: String, params: JSONValue, result: JSONValue) {
        guard case .recording(let recorder, let redact) = self else { return }
        recorder.record(Cassette.Exchange(method: "POST", url: Self.url(server: server, method: method),
                                          requestBody: Array(redact(params.encoded(sorted: true)).utf8),
                                          response: HTTPExchange.Response(status: 200, headers: [], body: Array(redact(result.encoded(sorted: true)).utf8)),
                                          kind: "mcp"))
    }

    /// The recorded answer when replaying; nil when recording (the server is asked).
    /// - Throws: ``ProviderError`` `.notInCassette`.
    public func answer(server: String, method: String, params: JSONValue) throws -> JSONValue? {
        guard case .replaying(let replay, let redact) = self else { return nil }
        let body = try replay.answerMCP(url: Self.url(server: server, method: method), body: Array(redact(params.encoded(sorted: true)).utf8))
        do {
            return try JSONValue.parse(Data(body))
        } catch {
            throw ProviderError(.cassette, message: "the cassette \(replay.path): the answer to \(Self.url(server: server, method: method)) is not JSON")
        }
    }

    public var isReplaying: Bool {
        if case .replaying = self { return true }
        return false
    }
}
