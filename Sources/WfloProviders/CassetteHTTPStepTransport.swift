import Foundation
import WfloCore

/// Sends http steps' requests through another transport and adds every exchange to a
/// ``RecordingTransport``'s cassette (`wflo run --record FILE`), so a run that calls tools or
/// APIs can be replayed offline.
///
/// `redact` is applied to the URL, the request body and the response body before they are
/// stored (the CLI passes the secret store's redactor: no secret value reaches the file).
/// Request headers are never stored.
public struct RecordingHTTPStepTransport: HTTPStepTransport {
    private let inner: any HTTPStepTransport
    private let recorder: RecordingTransport
    private let redact: @Sendable (String) -> String

    public init(wrapping inner: any HTTPStepTransport, recorder: RecordingTransport, redact: @escaping @Sendable (String) -> String) {
        self.inner = inner
        self.recorder = recorder
        self.redact = redact
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes: Int) async throws -> HTTPExchange.Response {
        let response = try await inner.send(request, timeout: timeout, maximumResponseBytes: maximumResponseBytes)
        var stored = response
        stored.body = Array(redact(String(decoding: response.body, as: UTF8.self)).utf8)
        recorder.record(Cassette.Exchange(method: request.method, url: redact(request.url),
                                          requestBody: Array(redact(String(decoding: request.body, as: UTF8.self)).utf8),
                                          response: stored, kind: "http"))
        return response
    }
}

/// Serves http steps' requests from a cassette (`wflo run --replay FILE`): no network. A
/// request is matched by method, path, query and body (scheme, host and port ignored), after
/// `redact` (which must be the one used when recording). A request the cassette lacks fails
/// with ``ProviderError/Kind/notInCassette``; nothing is sent.
public struct ReplayHTTPStepTransport: HTTPStepTransport {
    private let replay: ReplayTransport
    private let redact: @Sendable (String) -> String

    public init(replay: ReplayTransport, redact: @escaping @Sendable (String) -> String) {
        self.replay = replay
        self.redact = redact
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes: Int) async throws -> HTTPExchange.Response {
        let hidden = HTTPExchange.Request(method: request.method, url: redact(request.url), headers: [],
                                          body: Array(redact(String(decoding: request.body, as: UTF8.self)).utf8))
        let response = try replay.sendHTTPStep(hidden)
        if response.body.count > maximumResponseBytes {
            throw ResponseTooLargeError(host: URLComponents(string: request.url)?.host ?? "the host", limit: maximumResponseBytes)
        }
        return response
    }
}
