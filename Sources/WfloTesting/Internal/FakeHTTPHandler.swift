import Foundation
import NIOCore
import NIOHTTP1
import WfloCore

/// One connection of a ``FakeHTTPService``: gathers a request, routes it, answers (now or later).
final class FakeHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        static func json(_ value: JSONValue, status: Int = 200) -> Response {
            Response(status: status, headers: [("content-type", "application/json")], body: Array(value.encoded(sorted: true, pretty: true).utf8))
        }
    }

    private let core: FakeHTTPServiceCore
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?

    init(core: FakeHTTPServiceCore) {
        self.core = core
    }

    func channelActive(context: ChannelHandlerContext) {
        if !core.register(context.channel) {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.unregister(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = context.channel.allocator.buffer(capacity: 0)
        case .body(var part):
            body?.writeBuffer(&part)
        case .end:
            guard let head else { return }
            self.head = nil
            let text = body.map { String(buffer: $0) } ?? ""
            body = nil
            var headers: [String: String] = [:]
            for (name, value) in head.headers {
                let key = name.lowercased()
                headers[key] = headers[key].map { $0 + ", " + value } ?? value
            }
            let path = String(head.uri.prefix { $0 != "?" })
            let request = FakeHTTPService.Request(method: head.method.rawValue, uri: head.uri, path: path, headers: headers, body: text)
            core.record(request)
            let (delay, response) = Self.route(request)
            let keepAlive = head.isKeepAlive
            if let delay {
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay * 1000))) {
                    guard context.channel.isActive else { return }
                    self.write(response, context: context, keepAlive: keepAlive)
                }
            } else {
                write(response, context: context, keepAlive: keepAlive)
            }
        }
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
    static func route(_ request: FakeHTTPService.Request) -> (Double?, Response) {
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
        case "json":
            return (nil, .json(["slideshow": ["author": "Yours Truly", "title": "Sample Slide Show",
                                              "slides": [["title": "Wake up to WonderWidgets!", "type": "all"],
                                                         ["title": "Overview", "type": "all", "items": ["Why WonderWidgets are great", "Who buys WonderWidgets"]]]]]))
        default:
            break
        }
        return (nil, Response(status: 404, headers: [("content-type", "text/plain")], body: Array("no route for \(request.method) \(request.path)".utf8)))
    }

    private func write(_ response: Response, context: ChannelHandlerContext, keepAlive: Bool) {
        var headers = HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
