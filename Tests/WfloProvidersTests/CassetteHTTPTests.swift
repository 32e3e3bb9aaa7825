import Foundation
import Synchronization
import Testing
import WfloCore
import WfloProviders

/// An http-step transport that answers with the request echoed, counting what it was sent.
private final class EchoStepTransport: HTTPStepTransport {
    let count = Mutex(0)
    func send(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes: Int) async throws -> HTTPExchange.Response {
        count.withLock { $0 += 1 }
        let body = JSONValue.object(["url": .string(request.url), "body": .string(String(decoding: request.body, as: UTF8.self))]).encoded()
        return HTTPExchange.Response(status: 200, headers: [HTTPExchange.Header("Content-Type", "application/json")], body: Array(body.utf8))
    }
}

/// An LLM transport that must not be used.
private struct NoNetwork: HTTPTransport {
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        throw ProviderError(.connection, message: "no network in this test")
    }
}

@Suite struct CassetteHTTPTests {
    static let secret = "tok-SECRET-9f1c"
    static func hide(_ text: String) -> String { text.replacingOccurrences(of: secret, with: "[secret:TOKEN]") }

    @Test func recordsHTTPStepExchangesWithoutSecretsAndReplaysThemByPathQueryAndBody() async throws {
        let file = temporaryFile("cassette.json")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let inner = EchoStepTransport()
        let recorder = RecordingTransport(wrapping: NoNetwork(), path: file)
        let recording = RecordingHTTPStepTransport(wrapping: inner, recorder: recorder, redact: Self.hide)
        let page = HTTPExchange.Request(method: "GET", url: "http://127.0.0.1:8080/page/Paris?lang=en", headers: [HTTPExchange.Header("Authorization", "Bearer \(Self.secret)")], body: [])
        let post = HTTPExchange.Request(method: "POST", url: "http://127.0.0.1:8080/notes", headers: [], body: Array("{\"token\":\"\(Self.secret)\"}".utf8))
        let live = try await recording.send(page, timeout: .seconds(5), maximumResponseBytes: 1 << 20)
        _ = try await recording.send(post, timeout: .seconds(5), maximumResponseBytes: 1 << 20)
        try recorder.save()
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!text.contains(Self.secret), "no secret value reaches the cassette")
        #expect(!text.contains("Authorization"))
        #expect(text.contains("\"kind\": \"http\""))

        let replay = ReplayHTTPStepTransport(replay: try ReplayTransport(path: file), redact: Self.hide)
        // Another port, the same path, query and body: served without the network.
        let again = try await replay.send(HTTPExchange.Request(method: "GET", url: "http://127.0.0.1:9999/page/Paris?lang=en", headers: [], body: []),
                                          timeout: .seconds(5), maximumResponseBytes: 1 << 20)
        #expect(again.status == 200)
        #expect(again.body == live.body)
        _ = try await replay.send(post, timeout: .seconds(5), maximumResponseBytes: 1 << 20)
        #expect(inner.count.withLock { $0 } == 2, "replay sent nothing")
        let missing = await providerError {
            _ = try await replay.send(HTTPExchange.Request(method: "GET", url: "http://127.0.0.1:8080/page/Paris?lang=fr", headers: [], body: []),
                                      timeout: .seconds(5), maximumResponseBytes: 1 << 20)
        }
        #expect(missing?.kind == .notInCassette)
        #expect(missing?.message.contains("GET /page/Paris?lang=fr") == true)
    }
}
