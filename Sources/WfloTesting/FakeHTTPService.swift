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
/// | `/fail/N[/…]` | the first N requests to that exact path answer 500; later ones the `/anything` echo (a receiver that recovers) |
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

    private let core: FakeHTTPServiceCore
    private let server: LoopbackServer

    public var port: Int { server.port }
    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(core: FakeHTTPServiceCore, server: LoopbackServer) {
        self.core = core
        self.server = server
    }

    /// Starts the service on 127.0.0.1 with an ephemeral port, on an event loop of its own.
    /// - Throws: the socket error when it cannot bind.
    public static func start() async throws -> FakeHTTPService {
        let core = FakeHTTPServiceCore()
        let server = try await LoopbackServer.start { gathered, reply in
            let request = Request(method: gathered.method, uri: gathered.uri, path: gathered.path, headers: gathered.headers,
                                  body: gathered.body)
            let earlier = core.record(request)
            let (delay, response) = FakeHTTPHandler.route(request, earlierToSamePath: earlier)
            if let delay {
                reply.after(seconds: delay) { reply.send(response.loopback) }
            } else {
                reply.send(response.loopback)
            }
        }
        return FakeHTTPService(core: core, server: server)
    }

    /// Stops listening, closes open connections (delayed answers end with the connection closed)
    /// and stops the event loop. Safe to call twice.
    public func shutdown() async {
        await server.shutdown()
    }

    /// Every request received so far, in arrival order.
    public func requests() -> [Request] {
        core.requests.withLock { $0 }
    }

    public var requestCount: Int {
        core.requests.withLock { $0.count }
    }

    /// Connections accepted so far (a request refused before connecting leaves this unchanged).
    public var connectionCount: Int {
        server.connections.accepted
    }
}

/// The requests a ``FakeHTTPService`` received.
final class FakeHTTPServiceCore: Sendable {
    let requests = Mutex<[FakeHTTPService.Request]>([])

    /// Records the request; returns how many requests to the same path came before it.
    func record(_ request: FakeHTTPService.Request) -> Int {
        requests.withLock { list in
            let earlier = list.count { $0.path == request.path }
            list.append(request)
            return earlier
        }
    }
}
