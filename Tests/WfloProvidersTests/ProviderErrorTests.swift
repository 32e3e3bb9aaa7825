import Foundation
import Testing
import WfloCore
import WfloHTTP
@testable import WfloProviders
import WfloTesting

/// One scripted failure and what the client must make of it.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    var provider: LLMProviderKind
    var behavior: FakeLLMServer.Behavior
    var kind: ProviderError.Kind
    var status: Int?
    var retryable: Bool
    var retryAfter: Double?
    var messagePart: String
    var testDescription: String { "\(provider) \(kind) \(status.map(String.init) ?? "-")" }
}

@Suite(.timeLimit(.minutes(1)))
struct ProviderErrorTests {
    static let cases: [ErrorCase] = [
        ErrorCase(provider: .openai, behavior: .rateLimited(retryAfter: "7"), kind: .rateLimited, status: 429,
                  retryable: true, retryAfter: 7, messagePart: "Rate limit reached for gpt-4o-mini"),
        ErrorCase(provider: .anthropic, behavior: .rateLimited(retryAfter: "3"), kind: .rateLimited, status: 429,
                  retryable: true, retryAfter: 3, messagePart: "rate_limit_error"),
        ErrorCase(provider: .openai, behavior: .insufficientQuota, kind: .quotaExceeded, status: 429,
                  retryable: false, messagePart: "You exceeded your current quota"),
        ErrorCase(provider: .openai, behavior: .error(status: 500), kind: .server, status: 500,
                  retryable: true, messagePart: "The server had an error"),
        ErrorCase(provider: .anthropic, behavior: .error(status: 500), kind: .server, status: 500,
                  retryable: true, messagePart: "api_error"),
        ErrorCase(provider: .openai, behavior: .error(status: 503), kind: .server, status: 503,
                  retryable: true, messagePart: "overloaded or not ready"),
        ErrorCase(provider: .anthropic, behavior: .overloaded(retryAfter: "2"), kind: .overloaded, status: 529,
                  retryable: true, retryAfter: 2, messagePart: "Overloaded"),
        ErrorCase(provider: .openai, behavior: .error(status: 408), kind: .server, status: 408,
                  retryable: true, messagePart: "OpenAI-compatible endpoint"),
        ErrorCase(provider: .openai, behavior: .openAIError(status: 400, message: "This model's maximum context length is 128000 tokens.",
                                                            type: "invalid_request_error", code: "context_length_exceeded"),
                  kind: .badRequest, status: 400, retryable: false, messagePart: "maximum context length"),
        ErrorCase(provider: .anthropic, behavior: .error(status: 400), kind: .badRequest, status: 400,
                  retryable: false, messagePart: "invalid_request_error"),
        ErrorCase(provider: .openai, behavior: .error(status: 401), kind: .authentication, status: 401,
                  retryable: false, messagePart: "Incorrect API key provided"),
        ErrorCase(provider: .anthropic, behavior: .error(status: 401), kind: .authentication, status: 401,
                  retryable: false, messagePart: "invalid x-api-key"),
        ErrorCase(provider: .anthropic, behavior: .error(status: 403), kind: .permission, status: 403,
                  retryable: false, messagePart: "permission_error"),
        ErrorCase(provider: .openai, behavior: .error(status: 404), kind: .notFound, status: 404,
                  retryable: false, messagePart: "The model `gpt-4o-mini` does not exist"),
        ErrorCase(provider: .anthropic, behavior: .error(status: 404), kind: .notFound, status: 404,
                  retryable: false, messagePart: "not_found_error"),
        ErrorCase(provider: .anthropic, behavior: .error(status: 413), kind: .requestTooLarge, status: 413,
                  retryable: false, messagePart: "request_too_large"),
        ErrorCase(provider: .openai, behavior: .malformedJSON, kind: .malformedResponse, status: 200,
                  retryable: true, messagePart: "is not JSON"),
        ErrorCase(provider: .anthropic, behavior: .malformedJSON, kind: .malformedResponse, status: 200,
                  retryable: true, messagePart: "is not JSON"),
        ErrorCase(provider: .openai, behavior: .dropConnection, kind: .connection, status: nil,
                  retryable: true, messagePart: "cannot reach 127.0.0.1"),
        ErrorCase(provider: .anthropic, behavior: .dropConnection, kind: .connection, status: nil,
                  retryable: true, messagePart: "cannot reach 127.0.0.1"),
    ]

    /// The kinds a workflow may list in `non_retryable_errors` are exactly the kinds a call fails with.
    @Test func retryPolicyKnowsEveryErrorKindByItsRawValue() {
        #expect(ProviderError.Kind.allCases.map(\.rawValue) == RetryPolicy.errorKinds)
    }

    @Test(arguments: cases)
    func providerFailureIsClassifiedWithTheProvidersMessage(_ expected: ErrorCase) async throws {
        try await withFakeProvider { server, client in
            server.enqueue(expected.behavior, path: path(expected.provider))
            let error = try #require(await providerError {
                _ = try await client.complete(request(expected.provider), timeout: .seconds(10))
            })
            #expect(error.kind == expected.kind)
            #expect(error.status == expected.status)
            #expect(error.isRetryable == expected.retryable)
            #expect(error.retryAfter == expected.retryAfter)
            #expect(error.message.contains(expected.messagePart), "\(error.message)")
            #expect(server.requestCount == 1, "the client itself never retries")
        }
    }

    /// No wall-clock bound here: with every suite running on two cores, resuming this task on
    /// Swift's cooperative pool (two threads) lagged the 300 ms deadline by up to 10 s. The proof
    /// is the error itself: the delayed reply would have come (no error) after 30 s, and the hang
    /// never ends (the time limit fails it).
    @Test(.timeLimit(.minutes(1)), arguments: [FakeLLMServer.Behavior.hang, .delay(.seconds(30))])
    func noAnswerWithinTheTimeoutIsARetryableTimeout(_ behavior: FakeLLMServer.Behavior) async throws {
        try await withFakeProvider { server, client in
            server.enqueue(behavior)
            let error = await providerError { _ = try await client.complete(request(.openai), timeout: .milliseconds(300)) }
            #expect(error?.kind == .timeout)
            #expect(error?.isRetryable == true)
            #expect(error?.message.contains("within") == true, "\(String(describing: error))")
        }
    }

    @Test func shortDelayWithinTheTimeoutStillAnswers() async throws {
        try await withFakeProvider { server, client in
            server.enqueue(.delay(.milliseconds(50), then: .reply(text: "late but fine")))
            let response = try await client.complete(request(.anthropic), timeout: .seconds(10))
            #expect(response.text == "late but fine")
        }
    }

    @Test func wrongKeyGetsTheServersAuthenticationError() async throws {
        try await withFakeProvider(requiredAPIKey: "another-key") { server, client in
            let error = await providerError { _ = try await client.complete(request(.openai), timeout: .seconds(10)) }
            #expect(error?.kind == .authentication)
            #expect(error?.isRetryable == false)
            #expect(server.requestCount == 1)
        }
    }

    @Test func unreachableHostIsARetryableConnectionError() async throws {
        let server = try await FakeLLMServer.start()
        let base = server.baseURLOpenAI
        await server.shutdown()
        let transport = AsyncHTTPTransport()
        let client = LLMClient(transport: transport, endpoints: ProviderEndpoints(openAIBaseURL: base, openAIKey: openAIKey))
        let error = await providerError { _ = try await client.complete(request(.openai), timeout: .seconds(10)) }
        #expect(error?.kind == .connection)
        #expect(error?.isRetryable == true)
        // Said in the user's words, not NIO's ("connection reset (error set): … (errno: 111)").
        #expect(error?.message.contains("connection refused: nothing listens there") == true, "\(String(describing: error))")
        #expect(error?.message.contains("errno") == false, "\(String(describing: error))")
        try await transport.shutdown()
    }

    @Test(arguments: [("120", 120.0), (" 0.5 ", 0.5), ("soon", nil)])
    func retryAfterSecondsAreParsed(value: String, seconds: Double?) {
        #expect(LLMClient.parseRetryAfter(value) == seconds)
    }

    @Test func retryAfterMillisecondsWin() {
        let response = HTTPExchange.Response(status: 429, headers: [.init("retry-after", "2"), .init("retry-after-ms", "1500")], body: [])
        #expect(LLMClient.retryAfter(response) == 1.5)
    }

    @Test func retryAfterHTTPDateInThePastIsZero() {
        #expect(LLMClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == 0)
    }
}

/// Issue 22, item 1: the one `Retry-After` reader refuses what is not delta-seconds or an HTTP-date.
@Suite struct RetryAfterReaderTests {
    @Test(arguments: ["inf", "-inf", "nan", "1e30", "1e17", "-5", "0x10", "", "1.", ".5", "Infinity"])
    func hostileValuesAreNotRead(value: String) {
        #expect(RetryAfter.seconds(value) == nil)
        #expect(RetryAfter.milliseconds(value) == nil)
    }

    @Test func aNumberTooLongForADoubleIsTheLargestFiniteWait() {
        let seconds = RetryAfter.seconds(String(repeating: "9", count: 400))
        #expect(seconds == .greatestFiniteMagnitude)
    }

    @Test func anHTTPDateIsMeasuredFromNow() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let later = RetryAfter.seconds("Thu, 01 Jan 2099 00:00:00 GMT", now: now)
        #expect(later.map { $0.isFinite && $0 > 2e9 } == true)
    }

    @Test func milliseconds() {
        #expect(RetryAfter.milliseconds("1500") == 1.5)
    }
}
