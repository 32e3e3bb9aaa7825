import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The network transport: one shared AsyncHTTPClient. Call ``shutdown()`` before exiting.
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    /// Responses larger than this are refused (protects memory from a misbehaving server).
    public let maximumResponseBytes: Int

    public init(maximumResponseBytes: Int = 32 << 20) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.maximumResponseBytes = maximumResponseBytes
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let deadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        do {
            let response = try await client.execute(outgoing, deadline: deadline)
            let body = try await response.body.collect(upTo: maximumResponseBytes)
            return HTTPExchange.Response(status: Int(response.status.code),
                                         headers: response.headers.map { HTTPExchange.Header($0.name, $0.value) },
                                         body: Array(body.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw ProviderError(.timeout, message: "no answer from \(Self.host(request.url)) within \(timeout)")
        } catch is NIOTooManyBytesError {
            throw ProviderError(.malformedResponse, message: "the response from \(Self.host(request.url)) is larger than \(maximumResponseBytes) bytes")
        } catch let error as ProviderError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(.connection, message: "cannot reach \(Self.host(request.url)): \(error)")
        }
    }

    static func host(_ url: String) -> String {
        URL(string: url).flatMap { u in u.host.map { h in u.port.map { "\(h):\($0)" } ?? h } } ?? url
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }
}
