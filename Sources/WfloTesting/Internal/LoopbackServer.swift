import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One request as a loopback test server sees it, gathered from its HTTP/1.1 parts.
struct GatheredRequest: Sendable {
    var method: String
    /// Path and query as sent.
    var uri: String
    /// The path without the query.
    var path: String
    /// Lower-cased names; repeated headers joined with ", ".
    var headers: [String: String]
    var body: String
    var keepAlive: Bool
}

/// A response a loopback test server writes.
struct LoopbackResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
}

/// The open connections of a loopback test server, so shutting it down can close them (hung and
/// delayed answers then end with the connection closed) and refuse new ones.
final class LoopbackConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var accepted = 0
        var isShutDown = false
    }

    private let state = Mutex(State())

    /// Connections accepted since the start.
    var accepted: Int { state.withLock { $0.accepted } }

    func register(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.isShutDown else { return false }
            state.open[ObjectIdentifier(channel)] = channel
            state.accepted += 1
            return true
        }
    }

    func unregister(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Marks the server shut down and returns the connections to close; nil the second time.
    func beginShutdown() -> [any Channel]? {
        state.withLock { state in
            guard !state.isShutDown else { return nil }
            state.isShutDown = true
            let channels = Array(state.open.values)
            state.open = [:]
            return channels
        }
    }
}

/// One HTTP/1.1 connection of a loopback test server: gathers each request and hands it, with a
/// way to answer, to the server's `serve` closure (called on the connection's event loop).
final class LoopbackHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Answers on the connection a request came in on.
    struct Reply {
        fileprivate let handler: LoopbackHTTPHandler
        fileprivate let context: ChannelHandlerContext
        let keepAlive: Bool

        func send(_ response: LoopbackResponse) { handler.write(response, context: context, keepAlive: keepAlive) }
        func close() { context.close(promise: nil) }
        /// Runs `body` after `seconds` if the connection is still open.
        func after(seconds: Double, _ body: @escaping () -> Void) {
            let context = self.context
            context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(seconds * 1_000_000_000))) {
                guard context.channel.isActive else { return }
                body()
            }
        }
    }

    private let connections: LoopbackConnections
    private let serve: (GatheredRequest, Reply) -> Void
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?

    init(connections: LoopbackConnections, serve: @escaping (GatheredRequest, Reply) -> Void) {
        self.connections = connections
        self.serve = serve
    }

    func channelActive(context: ChannelHandlerContext) {
        if !connections.register(context.channel) {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connections.unregister(context.channel)
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
            let request = GatheredRequest(method: head.method.rawValue, uri: head.uri, path: String(head.uri.prefix { $0 != "?" }),
                                          headers: headers, body: text, keepAlive: head.isKeepAlive)
            serve(request, Reply(handler: self, context: context, keepAlive: head.isKeepAlive))
        }
    }

    fileprivate func write(_ response: LoopbackResponse, context: ChannelHandlerContext, keepAlive: Bool) {
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

/// Binds a loopback test server on 127.0.0.1 with an ephemeral port, on an event loop of its own.
struct LoopbackServer: Sendable {
    let port: Int
    let connections: LoopbackConnections
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// - Parameter serve: answers each request; called on the connection's event loop.
    /// - Throws: the socket error when it cannot bind.
    static func start(serve: @escaping @Sendable (GatheredRequest, LoopbackHTTPHandler.Reply) -> Void) async throws -> LoopbackServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = LoopbackConnections()
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(LoopbackHTTPHandler(connections: connections, serve: serve))
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
            guard let port = channel.localAddress?.port else {
                try? await channel.close()
                try? await group.shutdownGracefully()
                throw ChannelError.unknownLocalAddress
            }
            return LoopbackServer(port: port, connections: connections, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, closes open connections and stops the event loop. Safe to call twice.
    func shutdown() async {
        guard let open = connections.beginShutdown() else { return }
        try? await channel.close()
        for connection in open { try? await connection.close() }
        try? await group.shutdownGracefully()
    }
}
