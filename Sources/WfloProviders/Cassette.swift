import Foundation
import Synchronization
import WfloCore

/// A recorded set of HTTP exchanges (`--record FILE`, `--replay FILE`).
///
/// The file is JSON: `{"version": 1, "exchanges": [{"request": {"method", "url", "body"},
/// "response": {"status", "headers", "body"}}]}`. Exchanges of `http` steps (and agents' http
/// tools) carry `"kind": "http"`: they are matched with their query string, and what the
/// recorder was given to hide (the run's secrets) is replaced before they are stored. Bodies that are JSON are stored as JSON
/// (numbers keep their digits), others as text. Request headers are never stored: API keys and
/// authorization stay out of the file; query parameters that look like credentials (`key`,
/// `api_key`, `token`, `signature`, …) are redacted from stored URLs; only a few harmless
/// response headers are kept.
struct Cassette {
    struct Exchange {
        var method: String
        var url: String
        var requestBody: [UInt8]
        var response: HTTPExchange.Response
        /// `http` for an http step's exchange; nil for an LLM call.
        var kind: String? = nil
    }

    static let keptResponseHeaders: Set<String> = ["content-type", "retry-after", "request-id", "x-request-id"]

    static func encode(_ exchanges: [Exchange]) -> String {
        let items: [JSONValue] = exchanges.map { exchange in
            let headers = exchange.response.headers.filter { keptResponseHeaders.contains($0.name.lowercased()) || $0.name.lowercased().hasPrefix("x-ratelimit-") }
            var item: [String: JSONValue] = [
                "request": ["method": .string(exchange.method), "url": .string(redacted(exchange.url)), "body": bodyValue(exchange.requestBody)],
                "response": ["status": .int(exchange.response.status),
                             "headers": .object(Dictionary(headers.map { ($0.name.lowercased(), JSONValue.string($0.value)) }, uniquingKeysWith: { a, _ in a })),
                             // An http step's body is what the step outputs and a model may read: kept byte for byte.
                             "body": exchange.kind == "http" ? ["text": .string(String(decoding: exchange.response.body, as: UTF8.self))]
                                                             : bodyValue(exchange.response.body)],
            ]
            if let kind = exchange.kind { item["kind"] = .string(kind) }
            return .object(item)
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
            throw ProviderError(.cassette, message: "the cassette \(path) is not JSON (\(error))")
        }
        guard root["version"]?.intValue == 1, let items = root["exchanges"]?.arrayValue else {
            throw ProviderError(.cassette, message: "the cassette \(path) is not a wflo cassette (version 1 with \"exchanges\")")
        }
        return try items.enumerated().map { index, item in
            guard let method = item["request"]?["method"]?.stringValue, let url = item["request"]?["url"]?.stringValue,
                  let status = item["response"]?["status"]?.intValue else {
                throw ProviderError(.cassette, message: "the cassette \(path): exchange \(index + 1) lacks request.method, request.url or response.status")
            }
            let headers = (item["response"]?["headers"]?.objectValue ?? [:]).compactMap { key, value in
                value.stringValue.map { HTTPExchange.Header(key, $0) }
            }
            return Exchange(method: method, url: url, requestBody: bodyBytes(item["request"]?["body"]),
                            response: HTTPExchange.Response(status: status, headers: headers, body: bodyBytes(item["response"]?["body"])),
                            kind: item["kind"]?.stringValue)
        }
    }

    /// What identifies a request for replay: method, URL path (host and scheme ignored, so a
    /// cassette works whatever the base URL), and the canonical JSON of the body.
    static func key(method: String, url: String, body: [UInt8]) -> String {
        let path = URLComponents(string: url)?.path ?? url
        return method.uppercased() + " " + path + " " + canonicalBody(body)
    }

    /// The same key with only the last two path segments (`chat/completions`, `v1/messages`),
    /// so a cassette recorded through a base URL with a prefix (`https://proxy/openai/v1`)
    /// replays under another base.
    static func baseFreeKey(method: String, url: String, body: [UInt8]) -> String {
        let path = URLComponents(string: url)?.path ?? url
        let tail = path.split(separator: "/").suffix(2).joined(separator: "/")
        return method.uppercased() + " …/" + tail + " " + canonicalBody(body)
    }

    /// The key of an http step's exchange: method, path and query (scheme, host and port
    /// ignored, so a recording against one port replays on another), and the body.
    static func httpKey(method: String, url: String, body: [UInt8]) -> String {
        let components = URLComponents(string: redacted(url))
        let target = (components?.path ?? url) + (components?.percentEncodedQuery.map { "?" + $0 } ?? "")
        return "http " + method.uppercased() + " " + target + " " + canonicalBody(body)
    }

    /// The key of an MCP stdio message: `mcp://SERVER/METHOD` and the canonical params.
    static func mcpKey(url: String, body: [UInt8]) -> String {
        "mcp " + url + " " + canonicalBody(body)
    }

    static func canonicalBody(_ body: [UInt8]) -> String {
        (try? JSONValue.parse(Data(body)))?.encoded(sorted: true) ?? String(decoding: body, as: UTF8.self)
    }

    static let secretQueryNames = ["key", "token", "secret", "signature", "sig", "password", "auth", "credential"]

    /// The URL with the values of credential-like query parameters replaced by `REDACTED`.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), let items = components.queryItems, !items.isEmpty else { return url }
        components.queryItems = items.map { item in
            let name = item.name.lowercased()
            return secretQueryNames.contains(where: { name.contains($0) }) ? URLQueryItem(name: item.name, value: "REDACTED") : item
        }
        return components.string ?? url
    }
}
