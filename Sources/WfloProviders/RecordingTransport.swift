import Foundation
import Synchronization
import WfloCore

/// Sends through another transport and records every exchange; ``save()`` writes the cassette
/// that ``ReplayTransport`` reads (`wflo run --record FILE`).
///
/// Only exchanges that produced a response are recorded (an HTTP error status is a response;
/// a time-out is not). What is written never contains request headers — so no
/// `Authorization` or `x-api-key` — nor credential-like query parameters.
public final class RecordingTransport: HTTPTransport {
    private let inner: any HTTPTransport
    /// The cassette file ``save()`` writes.
    public let path: String
    private let exchanges = Mutex<[Cassette.Exchange]>([])

    /// - Parameters:
    ///   - inner: the transport that really sends (usually `AsyncHTTPTransport` of WfloHTTP).
    ///   - path: the cassette file to write on ``save()``.
    ///   - existing: exchanges to keep ahead of the new ones (``Recorded/read(path:)``): a
    ///     resumed recording adds to the cassette its run began, instead of replacing it.
    public init(wrapping inner: any HTTPTransport, path: String, keeping existing: Recorded? = nil) {
        self.inner = inner
        self.path = path
        if let existing { exchanges.withLock { $0 = existing.exchanges } }
    }

    /// The exchanges a cassette file already holds.
    public struct Recorded: Sendable {
        let exchanges: [Cassette.Exchange]

        /// Reads the cassette at `path`; a missing file holds nothing yet.
        /// - Throws: ``ProviderError`` of kind `.cassette` when the file is not a cassette.
        public static func read(path: String) throws -> Recorded {
            guard let data = FileManager.default.contents(atPath: path) else { return Recorded(exchanges: []) }
            return Recorded(exchanges: try Cassette.decode(String(decoding: data, as: UTF8.self), path: path))
        }
    }

    /// Sends through the wrapped transport and remembers the exchange.
    /// - Throws: whatever the wrapped transport throws (nothing is recorded then).
    public func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        let response = try await inner.send(request, timeout: timeout)
        exchanges.withLock { $0.append(Cassette.Exchange(method: request.method, url: request.url, requestBody: request.body, response: response)) }
        return response
    }

    /// Records an exchange an http step made (see ``RecordingHTTPStepTransport``).
    func record(_ exchange: Cassette.Exchange) {
        exchanges.withLock { $0.append(exchange) }
    }

    /// How many exchanges were recorded so far.
    public var exchangeCount: Int {
        exchanges.withLock { $0.count }
    }

    /// Writes every exchange so far to the cassette file, atomically, as pretty JSON.
    /// - Throws: ``ProviderError`` of kind `.cassette` when the file cannot be written.
    public func save() throws {
        let text = Cassette.encode(exchanges.withLock { $0 })
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ProviderError(.cassette, message: "cannot write the cassette \(path): \(error.localizedDescription)")
        }
    }
}
