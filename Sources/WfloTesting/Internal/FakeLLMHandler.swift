import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection of a ``FakeLLMServer``: gathers a request, asks the core what to do,
/// and does it (answer, wait, drop or hang).
final class FakeLLMHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: FakeLLMServerCore
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?

    init(core: FakeLLMServerCore) {
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
            let bytes = body.map { String(buffer: $0) } ?? ""
            body = nil
            var headers: [String: String] = [:]
            for (name, value) in head.headers {
                let key = name.lowercased()
                headers[key] = headers[key].map { $0 + ", " + value } ?? value
            }
            let path = String(head.uri.prefix { $0 != "?" })
            let action = core.accept(method: head.method.rawValue, path: path, headers: headers, body: bytes)
            perform(action, context: context, keepAlive: head.isKeepAlive)
        }
    }

    private func perform(_ action: FakeWire.Action, context: ChannelHandlerContext, keepAlive: Bool) {
        switch action {
        case .respond(let response):
            write(response, context: context, keepAlive: keepAlive)
        case .after(let duration, let next):
            let (seconds, attoseconds) = duration.components
            let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
            context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) {
                guard context.channel.isActive else { return }
                self.perform(next, context: context, keepAlive: keepAlive)
            }
        case .drop:
            context.close(promise: nil)
        case .hang:
            break
        }
    }

    private func write(_ response: FakeWire.Response, context: ChannelHandlerContext, keepAlive: Bool) {
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
