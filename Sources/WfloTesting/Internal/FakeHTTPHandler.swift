import Foundation
import WfloCore

/// The routes of a ``FakeHTTPService``: what each request is answered, and after how long.
enum FakeHTTPHandler {
    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        static func json(_ value: JSONValue, status: Int = 200) -> Response {
            Response(status: status, headers: [("content-type", "application/json")], body: Array(value.encoded(sorted: true, pretty: true).utf8))
        }

        var loopback: LoopbackResponse { LoopbackResponse(status: status, headers: headers, body: body) }
    }

    static func query(_ uri: String) -> [String: String] {
        var out: [String: String] = [:]
        for item in URLComponents(string: uri)?.queryItems ?? [] { out[item.name] = item.value ?? "" }
        return out
    }

    static func echo(_ request: FakeHTTPService.Request) -> JSONValue {
        [
            "method": .string(request.method), "url": .string(request.uri), "path": .string(request.path),
            "args": .object(query(request.uri).mapValues(JSONValue.string)),
            "headers": .object(request.headers.mapValues(JSONValue.string)),
            "data": .string(request.body),
            "json": (try? JSONValue.parse(request.body)) ?? .null,
        ]
    }

    /// The answer to a request, and how many seconds to wait before giving it.
    /// - Parameter earlierToSamePath: how many requests to the same path came before this one (`/fail/N`).
    static func route(_ request: FakeHTTPService.Request, earlierToSamePath: Int = 0) -> (Double?, Response) {
        let parts = request.path.split(separator: "/").map(String.init)
        let args = query(request.uri)
        switch parts.first {
        case "anything":
            return (nil, .json(echo(request)))
        case "status" where parts.count == 2:
            guard let status = Int(parts[1]), (100...599).contains(status) else { break }
            var headers = [("content-type", "text/plain")]
            if let retryAfter = args["retry_after"] { headers.append(("retry-after", retryAfter)) }
            return (nil, Response(status: status, headers: headers, body: Array("status \(status)".utf8)))
        case "redirect-to":
            guard let target = args["url"] else { break }
            let status = args["status_code"].flatMap { Int($0) } ?? 302
            return (nil, Response(status: status, headers: [("location", target)], body: []))
        case "redirect" where parts.count == 2:
            guard let n = Int(parts[1]), n >= 1 else { break }
            return (nil, Response(status: 302, headers: [("location", n == 1 ? "/anything" : "/redirect/\(n - 1)")], body: []))
        case "delay" where parts.count == 2:
            guard let seconds = Double(parts[1]), seconds >= 0 else { break }
            return (seconds, .json(echo(request)))
        case "bytes" where parts.count == 2:
            guard let n = Int(parts[1]), n >= 0 else { break }
            return (nil, Response(status: 200, headers: [("content-type", "application/octet-stream")], body: [UInt8](repeating: UInt8(ascii: "x"), count: n)))
        case "fail" where parts.count >= 2:
            guard let failures = Int(parts[1]), failures >= 0 else { break }
            if earlierToSamePath < failures {
                return (nil, Response(status: 500, headers: [("content-type", "text/plain")],
                                      body: Array("failure \(earlierToSamePath + 1) of \(failures)".utf8)))
            }
            return (nil, .json(echo(request)))
        case "json":
            return (nil, .json(["slideshow": ["author": "Yours Truly", "title": "Sample Slide Show",
                                              "slides": [["title": "Wake up to WonderWidgets!", "type": "all"],
                                                         ["title": "Overview", "type": "all", "items": ["Why WonderWidgets are great", "Who buys WonderWidgets"]]]]]))
        default:
            break
        }
        return (nil, Response(status: 404, headers: [("content-type", "text/plain")], body: Array("no route for \(request.method) \(request.path)".utf8)))
    }
}
