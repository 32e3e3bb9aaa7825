import Foundation
import Synchronization
import WfloCore

/// Serves responses from a cassette written by ``RecordingTransport``, with no network
/// (`wflo run --replay FILE`).
///
/// A request matches a recorded exchange when its method, URL path (scheme, host, port and
/// query ignored, so the cassette works whatever the base URL; failing an exact path, the last
/// two path segments such as `chat/completions`) and canonical JSON body (`JSONValue.parse`
/// then `encoded(sorted: true)`) are the same. When the same request was
/// recorded several times (a 429, then the retry's answer), the answers are served in recorded
/// order and the last one is repeated after that: any recorded exchange may be served any
/// number of times. A request the cassette lacks fails with
/// ``ProviderError/Kind/notInCassette`` naming the model and path.
public struct ReplayTransport: HTTPTransport {
    private let responses: [String: [HTTPExchange.Response]]
    private let baseFreeKeys: [String: String]
    /// Exchanges of http steps, by ``Cassette/httpKey(method:url:body:)``.
    private let httpResponses: [String: [HTTPExchange.Response]]
    /// Answers of MCP servers' stdio messages, by ``Cassette/mcpKey(url:body:)``.
    private let mcpResponses: [String: [HTTPExchange.Response]]
    private let served: Served
    /// The cassette file.
    public let path: String

    private final class Served: Sendable {
        let counts = Mutex<[String: Int]>([:])
    }

    /// Reads the cassette.
    /// - Throws: ``ProviderError`` of kind `.cassette` when the file cannot be read or is not a
    ///   wflo cassette.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProviderError(.cassette, message: "cannot read the cassette \(path): no such file or not readable")
        }
        var responses: [String: [HTTPExchange.Response]] = [:]
        var baseFreeKeys: [String: String] = [:]
        var httpResponses: [String: [HTTPExchange.Response]] = [:]
        var mcpResponses: [String: [HTTPExchange.Response]] = [:]
        for exchange in try Cassette.decode(String(decoding: data, as: UTF8.self), path: path) {
            if exchange.kind == "mcp" {
                mcpResponses[Cassette.mcpKey(url: exchange.url, body: exchange.requestBody), default: []].append(exchange.response)
                continue
            }
            if exchange.kind == "http" {
                httpResponses[Cassette.httpKey(method: exchange.method, url: exchange.url, body: exchange.requestBody), default: []]
                    .append(exchange.response)
                continue
            }
            let key = Cassette.key(method: exchange.method, url: exchange.url, body: exchange.requestBody)
            responses[key, default: []].append(exchange.response)
            let baseFree = Cassette.baseFreeKey(method: exchange.method, url: exchange.url, body: exchange.requestBody)
            if baseFreeKeys[baseFree] == nil { baseFreeKeys[baseFree] = key }
        }
        self.responses = responses
        self.baseFreeKeys = baseFreeKeys
        self.httpResponses = httpResponses
        self.mcpResponses = mcpResponses
        self.served = Served()
        self.path = path
    }

    /// How many distinct requests the cassette answers.
    public var requestCount: Int { responses.count }

    /// Answers from the cassette; `timeout` is ignored.
    /// - Throws: ``ProviderError`` of kind `.notInCassette` for a request that was not recorded.
    public func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        var key = Cassette.key(method: request.method, url: request.url, body: request.body)
        if responses[key] == nil, let other = baseFreeKeys[Cassette.baseFreeKey(method: request.method, url: request.url, body: request.body)] {
            key = other
        }
        guard let answers = responses[key], !answers.isEmpty else {
            let urlPath = URLComponents(string: request.url)?.path ?? request.url
            let model = (try? JSONValue.parse(Data(request.body)))?["model"]?.stringValue.map { " for model '\($0)'" } ?? ""
            throw ProviderError(.notInCassette, message: "the cassette \(path) has no recorded answer to this \(request.method) \(urlPath)\(model): the request differs from every recorded one (its prompt, model or parameters changed); record it again with --record")
        }
        return serve(key: key, answers: answers)
    }

    /// Serves recorded answers in order, then repeats the last one.
    private func serve(key: String, answers: [HTTPExchange.Response]) -> HTTPExchange.Response {
        let index = served.counts.withLock { counts in
            let index = counts[key, default: 0]
            counts[key] = index + 1
            return index
        }
        return index < answers.count ? answers[index] : answers[answers.count - 1]
    }

    /// Answers a message to an MCP stdio server (`mcp://SERVER/METHOD`, the params as body) from
    /// the cassette; nothing is started.
    /// - Throws: ``ProviderError`` of kind `.notInCassette` for a message that was not recorded.
    func answerMCP(url: String, body: [UInt8]) throws -> [UInt8] {
        let key = Cassette.mcpKey(url: url, body: body)
        guard let answers = mcpResponses[key], !answers.isEmpty else {
            throw ProviderError(.notInCassette, message: "the cassette \(path) has no recorded answer to \(url) with these arguments: record it again with --record")
        }
        return serve(key: "mcp:" + key, answers: answers).body
    }

    /// Answers an http step's request from the cassette (method, path, query and body must match).
    /// - Throws: ``ProviderError`` of kind `.notInCassette` for a request that was not recorded.
    func sendHTTPStep(_ request: HTTPExchange.Request) throws -> HTTPExchange.Response {
        let key = Cassette.httpKey(method: request.method, url: request.url, body: request.body)
        guard let answers = httpResponses[key], !answers.isEmpty else {
            let target = URLComponents(string: Cassette.redacted(request.url)).map { $0.path + ($0.percentEncodedQuery.map { "?" + $0 } ?? "") } ?? request.url
            throw ProviderError(.notInCassette, message: "the cassette \(path) has no recorded answer to the http request \(request.method) \(target): record it again with --record")
        }
        return serve(key: "http:" + key, answers: answers)
    }
}
