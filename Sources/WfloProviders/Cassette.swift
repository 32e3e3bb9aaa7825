import Foundation
import Synchronization
import WfloCore

/// A recorded set of HTTP exchanges (`--record FILE`, `--replay FILE`).
///
/// The file is JSON: `{"version": 1, "exchanges": [{"request": {"method", "url", "body"},
/// "response": {"status", "headers", "body"}}]}`. Bodies that are JSON are stored as JSON
/// (numbers keep their digits), others as text. Request headers are never stored: API keys and
/// authorization stay out of the file.
struct Cassette {
    struct Exchange {
        var method: String
        var url: String
        var requestBody: [UInt8]
        var response: HTTPExchange.Response
    }

    static let keptResponseHeaders: Set<String> = ["content-type", "retry-after", "request-id", "x-request-id"]

    static func encode(_ exchanges: [Exchange]) -> String {
        let items: [JSONValue] = exchanges.map { exchange in
            let headers = exchange.response.headers.filter { keptResponseHeaders.contains($0.name.lowercased()) || $0.name.lowercased().hasPrefix("x-ratelimit-") }
            return [
                "request": ["method": .string(exchange.method), "url": .string(exchange.url), "body": bodyValue(exchange.requestBody)],
                "response": ["status": .int(exchange.response.status),
                             "headers": .object(Dictionary(headers.map { ($0.name.lowercased(), JSONValue.string($0.value)) }, uniquingKeysWith: { a, _ in a })),
                             "body": bodyValue(exchange.response.body)],
            ]
        }
        return JSONValue.object(["version": 1, "exchanges": .array(items)]).encoded(sorted: true, pretty: true) + "\n"
    }

    static func bodyValue(_ bytes: [UInt8]) -> JSONValue {
        if let value = try? JSONValue.parse(Data(bytes)) { return ["json": value] }
        return ["text": .string(String(decoding: bytes, as: UTF8.self))]
    }

    static func bodyBytes(_ value: JSONValue?) -> [UInt8] {
        if let json = value?["json"] { return Array(json.encoded(sorted: true).utf8) }
        return Array((value?["text"]?.stringValue ?? "").utf8)
    }

    static func decode(_ text: String, path: String) throws -> [Exchange] {
        let root: JSONValue
        do {
            root = try JSONValue.parse(text)
        } catch {
            throw ProviderError(.notInCassette, message: "the cassette \(path) is not JSON (\(error))")
        }
        guard root["version"]?.intValue == 1, let items = root["exchanges"]?.arrayValue else {
            throw ProviderError(.notInCassette, message: "the cassette \(path) is not a wflo cassette (version 1 with \"exchanges\")")
        }
        return try items.enumerated().map { index, item in
            guard let method = item["request"]?["method"]?.stringValue, let url = item["request"]?["url"]?.stringValue,
                  let status = item["response"]?["status"]?.intValue else {
                throw ProviderError(.notInCassette, message: "the cassette \(path): exchange \(index + 1) lacks request.method, request.url or response.status")
            }
            let headers = (item["response"]?["headers"]?.objectValue ?? [:]).compactMap { key, value in
                value.stringValue.map { HTTPExchange.Header(key, $0) }
            }
            return Exchange(method: method, url: url, requestBody: bodyBytes(item["request"]?["body"]),
                            response: HTTPExchange.Response(status: status, headers: headers, body: bodyBytes(item["response"]?["body"])))
        }
    }

    /// What identifies a request for replay: method, URL path (host and scheme ignored, so a
    /// cassette works whatever the base URL), and the canonical JSON of the body.
    static func key(method: String, url: String, body: [UInt8]) -> String {
        let path = URLComponents(string: url)?.path ?? url
        let canonical = (try? JSONValue.parse(Data(body)))?.encoded(sorted: true) ?? String(decoding: body, as: UTF8.self)
        return method.uppercased() + " " + path + " " + canonical
    }
}

/// Sends through another transport and records every exchange; ``save()`` writes the cassette.
public final class RecordingTransport: HTTPTransport {
    private let inner: any HTTPTransport
    private let path: String
    private let exchanges = Mutex<[Cassette.Exchange]>([])

    public init(wrapping inner: any HTTPTransport, path: String) {
        self.inner = inner
        self.path = path
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        let response = try await inner.send(request, timeout: timeout)
        exchanges.withLock { $0.append(Cassette.Exchange(method: request.method, url: request.url, requestBody: request.body, response: response)) }
        return response
    }

    /// Writes every exchange so far to the cassette file (atomically).
    public func save() throws {
        let text = Cassette.encode(exchanges.withLock { $0 })
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ProviderError(.connection, message: "cannot write the cassette \(path): \(error.localizedDescription)")
        }
    }
}

/// Serves responses from a cassette with no network. A request the cassette lacks fails with
/// ``ProviderError/Kind/notInCassette``; a recorded exchange may be served any number of times.
public struct ReplayTransport: HTTPTransport {
    private let responses: [String: HTTPExchange.Response]
    public let path: String

    /// - Throws: ``ProviderError`` when the file cannot be read or is not a cassette.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProviderError(.notInCassette, message: "cannot read the cassette \(path)")
        }
        var responses: [String: HTTPExchange.Response] = [:]
        for exchange in try Cassette.decode(String(decoding: data, as: UTF8.self), path: path) {
            let key = Cassette.key(method: exchange.method, url: exchange.url, body: exchange.requestBody)
            if responses[key] == nil { responses[key] = exchange.response }
        }
        self.responses = responses
        self.path = path
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        let key = Cassette.key(method: request.method, url: request.url, body: request.body)
        guard let response = responses[key] else {
            let model = (try? JSONValue.parse(Data(request.body)))?["model"]?.stringValue.map { " for model '\($0)'" } ?? ""
            throw ProviderError(.notInCassette, message: "the cassette \(path) has no recorded answer to this \(request.method) \(URLComponents(string: request.url)?.path ?? request.url)\(model); the request differs from every recorded one (re-record with --record)")
        }
        return response
    }
}
