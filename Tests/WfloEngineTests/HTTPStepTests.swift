import Foundation
import Synchronization
import Testing
import WfloCore
import WfloDSL
@testable import WfloEngine
import WfloHTTP
import WfloProviders
import WfloStore
import WfloTesting

/// An LLM transport for runs that have no LLM step.
private struct NoLLM: HTTPTransport {
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        throw ProviderError(.connection, message: "these tests make no LLM calls")
    }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The loopback HTTP service, the real http-step transport, a real SQLite journal and the executor.
struct HTTPHarness {
    static let token = "tok-5f2e9c1d-7a3b-SECRET"

    let service: FakeHTTPService
    let transport: AsyncHTTPStepTransport
    let store: SQLiteJournalStore
    let directory: URL
    let clock = TestClock()
    let sleeps = Sleeps()
    let observer = RecordingObserver()

    static func with<T>(_ body: (HTTPHarness) async throws -> T) async throws -> T {
        let service = try await FakeHTTPService.start()
        return try await withHarness(folder: "wflo-http", make: { directory in
            HTTPHarness(service: service, transport: AsyncHTTPStepTransport(),
                        store: try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path), directory: directory)
        }, close: { await $0.close() }, body)
    }

    func close() async {
        try? await transport.shutdown()
        await service.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    var base: String { service.baseURL }

    func executor(secrets: SecretStore = SecretStore(environment: ["WFLO_SECRET_API_TOKEN": HTTPHarness.token], filePath: nil),
                  resolver: HostResolver = .system, approvals: ApprovalWaitMode = .wait(pollInterval: 0.02)) -> Executor {
        let sleeps = self.sleeps
        let clock = self.clock
        var configuration = ExecutorConfiguration(store: store, pricing: testPricing,
                                                  llm: LLMClient(transport: NoLLM(), endpoints: ProviderEndpoints()),
                                                  observer: observer, now: { clock.now }, sleep: { sleeps.append($0) },
                                                  random: { 0.5 }, approvals: approvals)
        configuration.secrets = secrets
        configuration.http = transport
        configuration.resolver = resolver
        return Executor(configuration)
    }

    func run(_ yaml: String, secrets: SecretStore? = nil, resolver: HostResolver = .system,
             approvals: ApprovalWaitMode = .wait(pollInterval: 0.02)) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
        let inputs = try InputBinder.bind(definition, arguments: [], file: nil)
        let chosen = secrets.map { self.executor(secrets: $0, resolver: resolver, approvals: approvals) }
            ?? self.executor(resolver: resolver, approvals: approvals)
        return try await chosen.start(definition: definition, source: yaml, path: "test.yaml", inputs: inputs, budget: nil)
    }

    /// A one-step workflow around `step` (YAML lines of the step, indented by 4), loopback allowed.
    func workflow(_ step: String, egress: String = "egress: {allow: [\"127.0.0.1\"]}", extra: String = "") -> String {
        let step = step.split(separator: "\n").map { "    " + $0.drop(while: { $0 == " " }) }.joined(separator: "\n")
        return """
        name: http-test
        \(egress)
        \(extra)
        steps:
          - id: call
            type: http
        \(step)
        outputs:
          result: "{{steps.call.output}}"
        """
    }

    func output(_ result: RunResult) -> JSONValue? { result.outputs?["result"] }

    /// Every text the journal holds for the run, as one string.
    func journalText(_ runID: String) async throws -> String {
        let journal = try await store.journal(runID: runID)
        var parts: [String] = []
        for step in journal.steps { parts += [step.output?.encoded() ?? "", step.error ?? ""] }
        for attempt in journal.attempts { parts.append(attempt.error ?? "") }
        for event in journal.events { parts.append(event.data.encoded()) }
        for approval in journal.approvals { parts += [approval.message, approval.details.encoded()] }
        parts += [journal.run.error ?? "", journal.run.outputs?.encoded() ?? ""]
        return parts.joined(separator: "\n")
    }
}

@Suite(.timeLimit(.minutes(1)))
struct HTTPStepTests {
    // MARK: requests and responses

    @Test func getSendsQueryAndHeadersAndParsesTheJSONAnswer() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    method: GET
                    url: "\(h.base)/anything/items?fixed=1"
                    query: {q: "solid state", page: 2}
                    headers: {X-Trace: abc}
            """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let output = try #require(h.output(result))
            #expect(output["status"] == 200)
            #expect(output["json"]?["method"] == "GET")
            #expect(output["json"]?["args"] == ["fixed": "1", "q": "solid state", "page": "2"])
            #expect(output["json"]?["headers"]?["x-trace"] == "abc")
            #expect(output["headers"]?["content-type"] == "application/json")
            #expect(output["body"]?.stringValue?.contains("\"method\"") == true)
            let request = try #require(h.service.requests().first)
            #expect(request.uri == "/anything/items?fixed=1&q=solid%20state&page=2")
        }
    }

    @Test(arguments: ["POST", "PUT", "PATCH", "DELETE"])
    func jsonBodiesAreSentWithTheirMethodAndContentType(method: String) async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    method: \(method)
                    url: "\(h.base)/anything"
                    json: {topic: "batteries", count: 3, tags: [a, b]}
            """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let request = try #require(h.service.requests().first)
            #expect(request.method == method)
            #expect(request.headers["content-type"] == "application/json")
            #expect(try JSONValue.parse(request.body) == ["topic": "batteries", "count": 3, "tags": ["a", "b"]])
            #expect(h.output(result)?["json"]?["json"]?["topic"] == "batteries")
        }
    }

    @Test func aTextBodyIsSentAsPlainTextUnlessAHeaderSaysOtherwise() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/anything"
                    headers: {Content-Type: application/x-www-form-urlencoded}
                    body: "a=1&b=two"
            """))
            #expect(result.status == .completed)
            let request = try #require(h.service.requests().first)
            #expect(request.body == "a=1&b=two")
            #expect(request.headers["content-type"] == "application/x-www-form-urlencoded")
        }
    }

    @Test func redirectsAreFollowedAndTheFinalURLReported() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/redirect/3"
            """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(h.output(result)?["redirects"] == 3)
            #expect(h.output(result)?["url"]?.stringValue?.hasSuffix("/anything") == true)
            #expect(h.service.requests().map(\.path) == ["/redirect/3", "/redirect/2", "/redirect/1", "/anything"])
        }
    }

    @Test func moreRedirectsThanAllowedFailTheStep() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/redirect/3"
                    follow_redirects: 2
            """))
            #expect(result.status == .failed)
            #expect(result.error?.contains("more than 2 redirects") == true, "\(result.error ?? "")")
            #expect(h.service.requestCount == 3)
        }
    }

    @Test func followRedirectsZeroReturnsTheRedirectItself() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/redirect-to?url=/json&status_code=307"
                    follow_redirects: 0
                    expect_status: [307]
            """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(h.output(result)?["status"] == 307)
            #expect(h.output(result)?["headers"]?["location"] == "/json")
        }
    }

    @Test func a303AfterAPostContinuesAsAGetWithoutTheBody() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/redirect-to?url=/anything&status_code=303"
                    json: {a: 1}
            """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let requests = h.service.requests()
            #expect(requests.map(\.method) == ["POST", "GET"])
            #expect(requests.last?.body == "")
        }
    }

    @Test func anUnexpectedClientErrorFailsAtOnceNamingTheStatus() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/404"
            """))
            #expect(result.status == .failed)
            #expect(result.error?.contains("HTTP 404") == true)
            #expect(result.error?.contains("expected 2xx") == true)
            #expect(h.service.requestCount == 1)
        }
    }

    @Test func expectStatusAcceptsTheListedStatuses() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/404"
                    expect_status: [200, 404]
            """))
            #expect(result.status == .completed)
            #expect(h.output(result)?["status"] == 404)
            #expect(h.output(result)?["body"] == "status 404")
        }
    }

    @Test func serverErrorsOfAGetAreRetriedWithTheServersRetryAfter() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=7"
                    retry: {maximum_attempts: 3}
            """))
            #expect(result.status == .failed)
            #expect(result.error?.contains("after 3 attempts") == true, "\(result.error ?? "")")
            #expect(h.service.requestCount == 3)
            #expect(h.sleeps.withLock { $0 } == [7, 7])
        }
    }

    @Test func aPostIsNotRetriedUnlessItIsIdempotent() async throws {
        try await HTTPHarness.with { h in
            let once = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/status/500"
            """))
            #expect(once.status == .failed)
            #expect(once.error?.contains("not retried: POST is not idempotent") == true, "\(once.error ?? "")")
            #expect(h.service.requestCount == 1)

            _ = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/status/500"
                    headers: {Idempotency-Key: order-17}
            """).replacingOccurrences(of: "name: http-test", with: "name: http-test\ncircuit_breaker: {failure_threshold: 20}"))
            #expect(h.service.requestCount == 1 + 3)
        }
    }

    @Test func aSlowAnswerFailsAtTheStepsTimeout() async throws {
        try await HTTPHarness.with { h in
            let started = ContinuousClock.now
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/delay/600"
                    timeout: 300ms
                    retry: {maximum_attempts: 1}
            """))
            #expect(result.status == .failed)
            #expect(result.error?.contains("within the step's timeout") == true, "\(result.error ?? "")")
            // The test's own clock lags by tens of seconds while every suite shares two cores (38 s
            // seen for this 300 ms timeout), so the bound only proves the 600 s answer was not awaited.
            #expect(ContinuousClock.now - started < .seconds(300), "it gave up long before the 600 s answer")
        }
    }

    @Test func aResponseLargerThanTheLimitFailsAndOneWithinItPasses() async throws {
        try await HTTPHarness.with { h in
            let big = try await h.run(h.workflow("""
                    url: "\(h.base)/bytes/4096"
                    max_response_bytes: 1KiB
            """))
            #expect(big.status == .failed)
            #expect(big.error?.contains("larger than max_response_bytes (1024 bytes)") == true, "\(big.error ?? "")")
            #expect(h.service.requestCount == 1, "a size failure is not retried")
            let fits = try await h.run(h.workflow("""
                    url: "\(h.base)/bytes/1024"
                    max_response_bytes: 1024
            """))
            #expect(fits.status == .completed)
            #expect(h.output(fits)?["body"]?.stringValue?.count == 1024)
        }
    }

    @Test func extractTakesFieldsByJSONPointerAndDottedPath() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/json"
                    extract: {title: /slideshow/title, second: slideshow.slides.1.title}
            """))
            #expect(result.status == .completed)
            #expect(h.output(result)?["title"] == "Sample Slide Show")
            #expect(h.output(result)?["second"] == "Overview")
            let missing = try await h.run(h.workflow("""
                    url: "\(h.base)/json"
                    extract: {nothing: /slideshow/missing}
            """))
            #expect(missing.status == .failed)
            #expect(missing.error?.contains("extract 'nothing': the response JSON has nothing at '/slideshow/missing'") == true)
        }
    }

    // MARK: egress

    @Test func aDeniedHostIsRefusedNamingTheRuleWithNoConnection() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
            """, egress: "egress: {allow: [\"127.0.0.1\"], deny: [\"127.0.0.0/8\"]}"))
            #expect(result.status == .failed)
            #expect(result.error?.contains("host '127.0.0.1' is denied by egress rule deny '127.0.0.0/8'") == true, "\(result.error ?? "")")
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func aHostOutsideTheAllowListIsRefusedWithNoConnection() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
            """, egress: "egress: {allow: [\"api.example.com\", \"*.example.org\"]}"))
            #expect(result.status == .failed)
            #expect(result.error?.contains("host '127.0.0.1' is not allowed by egress rule allow [api.example.com, *.example.org]") == true,
                    "\(result.error ?? "")")
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func aRedirectToADeniedHostIsRefusedBeforeConnectingToIt() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/redirect-to?url=http://metadata.internal.test/latest/"
            """, egress: "egress: {allow: [\"127.0.0.1\", \"*.internal.test\"], deny: [\"metadata.internal.test\"]}"))
            #expect(result.status == .failed)
            let error = result.error ?? ""
            #expect(error.contains("redirect to http://metadata.internal.test/latest/ refused by egress"), "\(error)")
            #expect(error.contains("host 'metadata.internal.test' is denied by egress rule deny 'metadata.internal.test'"))
            #expect(h.service.requests().map(\.path) == ["/redirect-to"])
        }
    }

    @Test func aRedirectFromAnAllowedHostToLoopbackIsRefused() async throws {
        try await HTTPHarness.with { h in
            // The first hop's name is allowed and resolves to loopback by its exact listing; the
            // redirect goes to "localhost", which is not listed.
            let resolver = HostResolver { host in
                host == "api.partner.test" ? [IPAddress("127.0.0.1")!] : try await HostResolver.system.resolve(host)
            }
            let result = try await h.run(h.workflow("""
                    url: "http://api.partner.test:\(h.service.port)/redirect-to?url=http://localhost:\(h.service.port)/anything"
            """, egress: "egress: {allow: [\"api.partner.test\", \"*\"]}"), resolver: resolver)
            #expect(result.status == .failed)
            #expect(result.error?.contains("host 'localhost' resolves to") == true, "\(result.error ?? "")")
            #expect(result.error?.contains("loopback") == true)
            #expect(h.service.requestCount == 1)
        }
    }

    @Test func aNameResolvingToLoopbackIsRefusedWhenLoopbackIsNotAllowed() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "http://localhost:\(h.service.port)/anything"
            """, egress: ""))
            #expect(result.status == .failed)
            let error = result.error ?? ""
            #expect(error.contains("host 'localhost' resolves to"), "\(error)")
            #expect(error.contains("a loopback address, refused by the default egress rule"))
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func everyDNSAnswerIsCheckedNotJustTheName() async throws {
        try await HTTPHarness.with { h in
            // A wildcard allows the name, but one of its addresses is private: refused.
            let resolver = HostResolver { _ in [IPAddress("93.184.216.34")!, IPAddress("10.1.2.3")!] }
            let result = try await h.run(h.workflow("""
                    url: "http://cdn.example.org:\(h.service.port)/anything"
            """, egress: "egress: {allow: [\"*.example.org\"]}"), resolver: resolver)
            #expect(result.status == .failed)
            #expect(result.error?.contains("host 'cdn.example.org' resolves to 10.1.2.3, a private address") == true, "\(result.error ?? "")")
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func theConnectionGoesToTheAddressThatWasChecked() async throws {
        try await HTTPHarness.with { h in
            // "api.partner.test" exists only in this resolver: the request can only have reached the
            // service because the connection was made to the checked address, with the name as Host.
            let resolver = HostResolver { host in
                guard host == "api.partner.test" else { throw EgressResolutionError(host: host, reason: "unknown in this test") }
                return [IPAddress("127.0.0.1")!]
            }
            let result = try await h.run(h.workflow("""
                    url: "http://api.partner.test:\(h.service.port)/anything"
            """, egress: "egress: {allow: [\"api.partner.test\"]}"), resolver: resolver)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(h.service.requests().first?.headers["host"] == "api.partner.test:\(h.service.port)")
        }
    }

    @Test func aSchemeOutsideTheEgressSchemesIsRefused() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
            """, egress: "egress: {allow: [\"127.0.0.1\"], schemes: [https]}"))
            #expect(result.status == .failed)
            #expect(result.error?.contains("scheme 'http' is not allowed by the workflow's egress: schemes [https]") == true, "\(result.error ?? "")")
            #expect(h.service.connectionCount == 0)
        }
    }

    // MARK: secrets

    @Test func aSecretIsSentButEverythingWrittenHoldsTheMarker() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/anything?key={{secrets.API_TOKEN}}"
                    headers: {Authorization: "Bearer {{secrets.API_TOKEN}}"}
                    json: {token: "{{secrets.API_TOKEN}}", topic: x}
            """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let request = try #require(h.service.requests().first)
            #expect(request.headers["authorization"] == "Bearer \(HTTPHarness.token)")
            #expect(request.body.contains(HTTPHarness.token))
            let output = try #require(h.output(result))
            #expect(output["json"]?["headers"]?["authorization"] == "Bearer [secret:API_TOKEN]")
            #expect(output["json"]?["json"]?["token"] == "[secret:API_TOKEN]")
            #expect(output["json"]?["args"]?["key"] == "[secret:API_TOKEN]")
            let journal = try await h.journalText(result.runID)
            #expect(journal.contains("[secret:API_TOKEN]"))
            #expect(!journal.contains(HTTPHarness.token))
            #expect(!"\(h.observer.all)".contains(HTTPHarness.token))
        }
    }

    @Test func aSecretInAnErrorIsRedacted() async throws {
        try await HTTPHarness.with { h in
            // The service echoes the request; the status check fails and quotes the body.
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
                    headers: {Authorization: "Bearer {{secrets.API_TOKEN}}"}
                    expect_status: [201]
            """))
            #expect(result.status == .failed)
            let error = try #require(result.error)
            #expect(error.contains("Bearer [secret:API_TOKEN]"), "\(error)")
            #expect(!error.contains(HTTPHarness.token))
            #expect(!(try await h.journalText(result.runID)).contains(HTTPHarness.token))
            #expect(!"\(h.observer.all)".contains(HTTPHarness.token))
        }
    }

    @Test func aMissingSecretFailsNamingItAndBothPlacesItCanComeFrom() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
                    headers: {Authorization: "Bearer {{secrets.OTHER_TOKEN}}"}
            """))
            #expect(result.status == .failed)
            let error = result.error ?? ""
            #expect(error.contains("secret 'OTHER_TOKEN' is not set"), "\(error)")
            #expect(error.contains("WFLO_SECRET_OTHER_TOKEN"))
            #expect(error.contains("~/.wflo/secrets"))
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func theSecretsFileIsReadOnlyWhenOnlyItsOwnerCanReadIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("secrets").path
        try "# tokens\nAPI_TOKEN=from-file-123\nQUOTED=\"with spaces\"\n".write(toFile: path, atomically: true, encoding: .utf8)

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let open = SecretStore(environment: [:], filePath: path)
        #expect(throws: EngineError.self) { try open.value("API_TOKEN") }
        do {
            _ = try open.value("API_TOKEN")
        } catch let error as EngineError {
            #expect(error.message.contains("chmod 600 \(path)"), "\(error.message)")
            #expect(error.message.contains("mode 644"))
        }

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let owned = SecretStore(environment: ["WFLO_SECRET_QUOTED": "from-env", "API_TOKEN": "not-a-wflo-secret"], filePath: path)
        #expect(try owned.value("API_TOKEN") == "from-file-123")
        #expect(try owned.value("QUOTED") == "from-env", "the environment wins over the file")
        #expect(owned.redactor.redact("a from-file-123 b from-env") == "a [secret:API_TOKEN] b [secret:QUOTED]")
    }

    @Test func theRedactorMasksEncodedFormsAndLongerSecretsFirst() {
        let redactor = Redactor(secrets: ["SHORT": "abc", "LONG": "abc/def+\"q\""])
        #expect(redactor.redact("x abc/def+\"q\" y") == "x [secret:LONG] y")
        #expect(redactor.redact("?k=abc%2Fdef%2B%22q%22") == "?k=[secret:LONG]")
        #expect(redactor.redact(#"{"k":"abc/def+\"q\""}"#) == #"{"k":"[secret:LONG]"}"#)
        #expect(redactor.redact(["abc": ["abc"]]) == ["[secret:SHORT]": ["[secret:SHORT]"]])
    }

    // MARK: approvals

    @Test func aPostWaitsForApprovalUnderAPolicyAndTheRequestShowsNoSecret() async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/anything"
                    headers: {Authorization: "Bearer {{secrets.API_TOKEN}}"}
                    json: {action: deploy}
            """, extra: "approval_policy: {risk_high: true}"), approvals: .noWait)
            #expect(result.status == .waitingApproval)
            #expect(h.service.connectionCount == 0)
            let request = try #require(try await h.store.approvals(runID: result.runID, status: nil).first)
            #expect(request.message.contains("HTTP POST"))
            #expect(request.details["headers"]?["Authorization"] == "Bearer [secret:API_TOKEN]")
            #expect(request.details["method"] == "POST")
            #expect(!request.details.encoded().contains(HTTPHarness.token))
            #expect(!request.message.contains(HTTPHarness.token))
        }
    }

    @Test func aGetIsNotGatedAndNonGetGatingCanBeTurnedOff() async throws {
        try await HTTPHarness.with { h in
            let get = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
            """, extra: "approval_policy: {risk_high: true}"), approvals: .noWait)
            #expect(get.status == .completed)
            let post = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/anything"
            """, extra: "approval_policy: {non_get_http: false}"), approvals: .noWait)
            #expect(post.status == .completed)
        }
    }

    // MARK: circuit breaker

    @Test func theCircuitOpensFailsFastHalfOpensAndCloses() async throws {
        try await HTTPHarness.with { h in
            let breaker = "circuit_breaker: {failure_threshold: 2, window: 60s, open_for: 30s}"
            let failing = h.workflow("""
                    url: "\(h.base)/status/503"
                    retry: {maximum_attempts: 1}
            """, extra: breaker)
            let healthy = h.workflow("""
                    url: "\(h.base)/anything"
            """, extra: breaker)
            let host = "127.0.0.1:\(h.service.port)"

            // Given two failures within the window, the circuit opens.
            _ = try await h.run(failing)
            #expect(try await h.store.circuits().first?.state == .closed)
            _ = try await h.run(failing)
            #expect(try await h.store.circuits().map(\.state) == [.open])
            #expect(h.service.requestCount == 2)

            // While open, steps fail fast: no request reaches the service.
            let fast = try await h.run(healthy)
            #expect(fast.status == .failed)
            #expect(fast.error?.contains("the circuit for \(host) is open") == true, "\(fast.error ?? "")")
            #expect(h.service.requestCount == 2)

            // After open_for, one probe goes through; it fails, so the circuit opens again.
            h.clock.advance(31)
            _ = try await h.run(failing)
            #expect(h.service.requestCount == 3)
            #expect(try await h.store.circuits().map(\.state) == [.open])
            _ = try await h.run(healthy)
            #expect(h.service.requestCount == 3)

            // The next probe succeeds: the circuit closes and requests flow again.
            h.clock.advance(31)
            let probe = try await h.run(healthy)
            #expect(probe.status == .completed)
            #expect(try await h.store.circuits().isEmpty)
            let after = try await h.run(healthy)
            #expect(after.status == .completed)
            #expect(h.service.requestCount == 5)
        }
    }

    @Test func aHalfOpenCircuitLetsOnlyOneProbeThrough() async throws {
        try await HTTPHarness.with { h in
            let settings = CircuitBreakerSettings(failureThreshold: 1, window: 60, openFor: 30)
            let t0 = h.clock.now
            try await h.store.recordCircuitResult(host: "api.test", failure: true, error: "HTTP 503", settings: settings, at: t0)
            let later = t0.addingTimeInterval(31)
            #expect(try await h.store.admitCircuit(host: "api.test", settings: settings, at: later) == .probe)
            guard case .rejected = try await h.store.admitCircuit(host: "api.test", settings: settings, at: later) else {
                Issue.record("a second request during the probe must be rejected")
                return
            }
            // A probe that never reports back (its process died) is replaced after open_for.
            #expect(try await h.store.admitCircuit(host: "api.test", settings: settings, at: later.addingTimeInterval(31)) == .probe)
            #expect(try await h.store.resetCircuits(host: "api.test") == 1)
            #expect(try await h.store.admitCircuit(host: "api.test", settings: settings, at: later) == .allowed)
        }
    }

    @Test func aStepWithAFallbackOutputsItWhileTheCircuitIsOpen() async throws {
        try await HTTPHarness.with { h in
            let settings = CircuitBreakerSettings(failureThreshold: 1, window: 60, openFor: 30)
            try await h.store.recordCircuitResult(host: "127.0.0.1:\(h.service.port)", failure: true, error: "HTTP 503",
                                                  settings: settings, at: h.clock.now)
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/anything"
                    fallback: {status: 0, body: "cached forecast", from: "{{inputs.city}}"}
            """, extra: "inputs: {city: {default: Oslo}}\ncircuit_breaker: {failure_threshold: 1}"))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(h.output(result) == ["status": 0, "body": "cached forecast", "from": "Oslo"])
            #expect(h.service.connectionCount == 0)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.events.contains { $0.kind == .stepCompleted && $0.data["fallback"] == true })
        }
    }
}

/// The egress rules and address parsing, without the network.
struct EgressPolicyTests {
    @Test(arguments: [
        ("127.0.0.1", "loopback"), ("10.9.8.7", "private"), ("172.20.0.1", "private"), ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"), ("::1", "loopback"), ("fe80::1", "link-local"), ("fd12::1", "private (unique local)"),
        ("::ffff:127.0.0.1", "loopback"), ("100.64.0.1", "shared (carrier-grade NAT)"), ("0.0.0.0", "unspecified"),
    ])
    func nonPublicAddressesAreClassified(address: String, kind: String) throws {
        #expect(try #require(IPAddress(address)).nonPublicKind == kind)
    }

    @Test(arguments: ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "172.32.0.1"])
    func publicAddressesAreNot(address: String) throws {
        #expect(try #require(IPAddress(address)).nonPublicKind == nil)
    }

    @Test func addressesRoundTripAndRangesContainWhatTheyShould() throws {
        #expect(IPAddress("2001:db8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1")
        #expect(IPAddress("::ffff:10.0.0.1")?.embeddedIPv4 == IPAddress("10.0.0.1"))
        #expect(IPAddress("1.2.3") == nil)
        #expect(IPAddress("01.2.3.4") == nil)
        #expect(IPNetwork("10.0.0.0/8")?.contains(IPAddress("10.200.0.1")!) == true)
        #expect(IPNetwork("10.0.0.0/8")?.contains(IPAddress("11.0.0.1")!) == false)
        #expect(IPNetwork("fd00::/8")?.contains(IPAddress("fd12::5")!) == true)
    }

    @Test func wildcardsMatchSubdomainsButDoNotUnlockPrivateAddresses() {
        let policy = EgressPolicy(allow: ["*.example.com", "db.internal", "10.5.0.0/16"])
        let public_ = [IPAddress("93.184.216.34")!]
        #expect(policy.refusal(scheme: "https", host: "api.example.com", addresses: public_) == nil)
        #expect(policy.refusal(scheme: "https", host: "a.b.example.com", addresses: public_) == nil)
        #expect(policy.refusal(scheme: "https", host: "example.com", addresses: public_)?.message.contains("is not allowed by egress rule allow") == true)
        #expect(policy.refusal(scheme: "https", host: "api.example.com", addresses: [IPAddress("10.0.0.1")!])?.message
            .contains("resolves to 10.0.0.1, a private address") == true)
        #expect(policy.refusal(scheme: "http", host: "db.internal", addresses: [IPAddress("192.168.3.4")!]) == nil, "an exact name is an explicit listing")
        #expect(policy.refusal(scheme: "http", host: "10.5.1.1", addresses: nil) == nil)
        #expect(policy.refusal(scheme: "ftp", host: "api.example.com", addresses: public_)?.message.contains("scheme 'ftp'") == true)
    }

    @Test func denyWinsAndMatchesResolvedAddresses() {
        let policy = EgressPolicy(allow: ["*"], deny: ["169.254.0.0/16", "*.evil.test"])
        #expect(policy.refusal(scheme: "https", host: "x.evil.test", addresses: nil)?.message == "host 'x.evil.test' is denied by egress rule deny '*.evil.test'")
        #expect(policy.refusal(scheme: "https", host: "innocent.test", addresses: [IPAddress("169.254.169.254")!])?.message
            == "host 'innocent.test' resolves to 169.254.169.254, denied by egress rule deny '169.254.0.0/16'")
        #expect(policy.refusal(scheme: "https", host: "innocent.test", addresses: [IPAddress("1.1.1.1")!]) == nil)
    }

    @Test func circuitRecordsFollowTheStateMachine() {
        let settings = CircuitBreakerSettings(failureThreshold: 3, window: 10, openFor: 5)
        let t = Date(timeIntervalSince1970: 1000)
        var c = CircuitRecord(host: "h", updatedAt: t)
        c = c.recording(failure: true, error: "e1", at: t, settings: settings)
        c = c.recording(failure: true, error: "e2", at: t.addingTimeInterval(2), settings: settings)
        // The first failure leaves the window before the third arrives: still closed.
        c = c.recording(failure: true, error: "e3", at: t.addingTimeInterval(10.5), settings: settings)
        #expect(c.state == .closed)
        #expect(c.failures.count == 2)
        c = c.recording(failure: true, error: "e4", at: t.addingTimeInterval(11), settings: settings)
        #expect(c.state == .open)
        #expect(c.lastError == "e4")
        #expect(c.failures.isEmpty)
        #expect(c.admitting(at: t.addingTimeInterval(12), settings: settings).1 == .rejected(until: t.addingTimeInterval(16), lastError: "e4"))
        let (probing, admission) = c.admitting(at: t.addingTimeInterval(16), settings: settings)
        #expect(admission == .probe)
        #expect(probing.state == .halfOpen)
        #expect(probing.recording(failure: false, error: nil, at: t.addingTimeInterval(17), settings: settings).state == .closed)
        #expect(probing.recording(failure: true, error: "e5", at: t.addingTimeInterval(17), settings: settings).state == .open)
    }
}
