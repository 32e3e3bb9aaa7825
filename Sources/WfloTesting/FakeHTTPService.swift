import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WfloCore

/// A real HTTP/1.1 service on 127.0.0.1 with httpbin-like routes, for testing http steps over
/// real loopback HTTP without installing anything:
///
/// | route | answer |
/// | --- | --- |
/// | `/anything[/…]` | 200, JSON echo: `method`, `url`, `path`, `args`, `headers` (lower-case names), `data`, `json` |
/// | `/status/N` | status N with a short text body (`/status/503?retry_after=2` adds `Retry-After`) |
/// | `/redirect-to?url=U&status_code=N` | N (default 302) with `Location: U` |
/// | `/redirect/N` | 302 to `/redirect/N-1`; `/redirect/1` goes to `/anything` |
/// | `/delay/S` | the `/anything` echo after S seconds |
/// | `/bytes/N` | N bytes of `x`, `application/octet-stream` |
/// | `/json` | a fixed JSON document (`{"slideshow": {...}}`) |
///
/// Every request is recorded when it arrives, and every accepted connection is counted, so a test
/// can assert that a refused request made no connection at all.
///
/// ```swift
/// let service = try await FakeHTTPService.start()
/// defer { Task { await service.shutdown() } }
/// // … run a step against "\(service.baseURL)/anything" …
/// #expect(service.connectionCount == 0)
/// ```
public final class FakeHTTPService: Sendable {
    /// One request as it arrived.
    public struct Request: Sendable, Hashable {
        public var method: String
        /// Path and query as sent.
        public var uri: String
        public var path: String
        /// Header names in lower case; repeated headers joined with `", "`.
        public var headers: [String: String]
        public var body: String
    }

    public let port: Int
    private let core: FakeHTTPServiceCore
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, core: FakeHTTPServiceCore, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.port = port
        self.core = core
        self.group = group
        self.channel = channel
    }

    /// Starts the service on 127.0.0.1 with an ephemeral port, on an event loop of its own.
    /// - Throws: the socket error when it cannot bind.
    public static func start() async throws -> FakeHTTPService {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let core = FakeHTTPServiceCore()
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(FakeHTTPHandler(core: core))
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
            guard let port = channel.localAddress?.port else {
                try? await channel.close()
                try? await group.shutdownGracefully()
                throw ChannelError.unknownLocalAddress
            }
            return FakeHTTPService(port: port, core: core, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, closes open connections (delayed answers end with the connection closed)
    /// and stops the event loop. Safe to call twice.
    public func shutdown() async {
        guard let connections = core.beginShutdown() else { return }
        try? await channel.close()
        for connection in connections { try? await connection.close() }
        try? await group.shutdownGracefully()
    }

    /// Every request received so far, in arrival order.
    public func requests() -> [Request] {
        core.state.withLock { $0.requests }
    }

    public var requestCount: Int {
        core.state.withLock { $0.requests.count }
    }

    /// Connections accepted so far (a request refused before connecting leaves this unchanged).
    public var connectionCount: Int {
        core.state.withLock { $0.connectionsAccepted }
    }
}

/// The shared state of a ``FakeHTTPService``.
final class FakeHTTPServiceCore: Sendable {
    struct State {
        var requests: [FakeHTTPService.Request] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        var connectionsAccepted = 0
        var isShutDown = false
    }

    let state = Mutex(State())

    func register(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.isShutDown else { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            state.connectionsAccepted += 1
            return true
        }
    }

    func unregister(_ channel: any Channel) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func record(_ request: FakeHTTPService.Request) {
        state.withLock { $0.requests.append(request) }
    }

    func beginShutdown() -> [any Channel]? {
        state.withLock { state in
            guard !state.isShutDown else { return nil }
            state.isShutDown = true
            let channels = Array(state.connections.values)
            state.connections = [:]
            return channels
        }
    }
}
