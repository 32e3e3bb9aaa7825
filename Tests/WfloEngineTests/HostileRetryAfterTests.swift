import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore
import WfloTesting

/// Issue 22, item 1: whatever a server says in `Retry-After`, every wait is finite, capped at
/// `maximum_interval`, and the journal stays readable JSON.
@Suite(.timeLimit(.minutes(1)))
struct HostileRetryAfterTests {
    /// Every `retry_scheduled` event of the run: its delay, which must be a finite JSON number.
    static func scheduledDelays(_ store: SQLiteJournalStore, runID: String) async throws -> [Double] {
        let journal = try await store.journal(runID: runID)
        return journal.events.filter { $0.kind == "retry_scheduled" }.compactMap { $0.data["delay_seconds"]?.doubleValue }
    }

    @Test(arguments: ["inf", "1e30", "1e17", "-5", "nan", "1" + String(repeating: "0", count: 400)])
    func anHTTPStepSurvivesAHostileRetryAfterAndItsJournalStaysReadable(value: String) async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=\(value)"
                    retry: {maximum_attempts: 3, maximum_interval: 5s}
            """))
            #expect(result.status == .failed)
            #expect(h.service.requestCount == 3)
            let sleeps = h.sleeps.withLock { $0 }
            #expect(sleeps.count == 2)
            #expect(sleeps.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 5 }, "\(sleeps)")
            // The journal reads back (status, report and resume read it the same way).
            let delays = try await Self.scheduledDelays(h.store, runID: result.runID)
            #expect(delays == sleeps)
        }
    }

    @Test func aRetryAfterLongerThanMaximumIntervalIsCappedAtIt() async throws {
        try await HTTPHarness.with { h in
            _ = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=86400"
                    retry: {maximum_attempts: 2, maximum_interval: 3s}
            """))
            #expect(h.sleeps.withLock { $0 } == [3])
        }
    }

    @Test func aRetryAfterPastTheRunsDeadlineEndsTheStepWithoutWaiting() async throws {
        try await HTTPHarness.with { h in
            let date = "Thu,%2001%20Jan%202099%2000:00:00%20GMT"
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=\(date)"
                    retry: {maximum_attempts: 3}
            """, extra: "timeout: 1h"))
            #expect(result.status == .failed)
            #expect(h.service.requestCount == 1)
            #expect(h.sleeps.withLock { $0 }.isEmpty)
            #expect(result.error?.contains("asked to wait more than 100 years") == true
                    || result.error?.contains("asked to wait") == true, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.map(\.status) == [.failed])
            #expect(journal.attempts.first?.error?.contains("the run has left before its timeout") == true)
        }
    }

    @Test(arguments: ["inf", "1e30", "1e17"])
    func anLLMStepSurvivesAHostileRetryAfter(value: String) async throws {
        try await Harness.with { h in
            h.server.enqueue(.rateLimited(retryAfter: value), .reply())
            let result = try await h.run("name: one\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10}\n")
            #expect(result.status == .completed)
            // Not a usable Retry-After: the policy's back-off (1s, jitter 0.5 is exactly the base).
            #expect(h.sleeps.withLock { $0 } == [1])
            #expect(try await Self.scheduledDelays(h.store, runID: result.runID) == [1])
        }
    }

    @Test func anLLMStepCapsAHugeRetryAfterAtMaximumInterval() async throws {
        try await Harness.with { h in
            h.server.enqueue(.rateLimited(retryAfter: "99999999999999999999"), .reply())
            let result = try await h.run("""
                name: one
                budget: 1
                steps:
                  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10, retry: {maximum_interval: 4s}}
                """)
            #expect(result.status == .completed)
            #expect(h.sleeps.withLock { $0 } == [4])
        }
    }
}

@Suite struct RetryWaitRuleTests {
    let policy = RetryPolicy(initialInterval: 2, backoffCoefficient: 2, maximumInterval: 10, maximumAttempts: 5)

    @Test(arguments: [(7.0, 7.0), (1e30, 10.0), (Double.greatestFiniteMagnitude, 10.0), (Double.infinity, 10.0), (0, 0)])
    func theAskedWaitIsKeptUpToMaximumInterval(asked: Double, expected: Double) {
        #expect(policy.wait(after: 1, asked: asked, jitter: 0.5, remaining: nil) == .wait(expected))
    }

    @Test(arguments: [Double.nan, -1.0])
    func anUnusableAskIsReplacedByTheBackoff(asked: Double) {
        #expect(policy.wait(after: 2, asked: asked, jitter: 0.5, remaining: nil) == .wait(4))
    }

    @Test func anAskPastTheDeadlineGivesUp() {
        guard case .giveUp(let reason) = policy.wait(after: 1, asked: 3600, jitter: 0.5, remaining: 60) else {
            Issue.record("expected giveUp")
            return
        }
        #expect(reason.contains("1h") && reason.contains("1m"), "\(reason)")
    }

    @Test func theBackoffNeverOverflows() {
        #expect(policy.wait(after: 100_000, asked: nil, jitter: 0.99, remaining: nil) == .wait(10))
    }
}

/// Issue 22, items 2 and 3: a secret full of reserved characters is masked in every encoding, and
/// an error's excerpt is masked before it is cut.
@Suite(.timeLimit(.minutes(1)))
struct HostileSecretTests {
    static let secret = #"P@ss w0rd!/?#&=+%:;,[]"'\$*-tok~9"#

    /// The secret's encodings, worked out here independently of the redactor.
    static func encodings(of value: String) -> [String] {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let percent = value.addingPercentEncoding(withAllowedCharacters: unreserved)!
        let jsonEscaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return [value, percent, percent.lowercased().replacingOccurrences(of: "p%40ss", with: "P%40ss"),
                percent.replacingOccurrences(of: "%20", with: "+"), jsonEscaped,
                jsonEscaped.replacingOccurrences(of: "/", with: "\\/"), Data(value.utf8).base64EncodedString()]
    }

    @Test func everyEncodingOfTheSecretIsMasked() {
        let redactor = Redactor(secrets: ["S": Self.secret])
        for form in Self.encodings(of: Self.secret) {
            #expect(redactor.redact("<\(form)>") == "<[secret:S]>", "\(form)")
        }
        // Inside basic auth: base64 of user:secret keeps at most a few edge characters of the secret's part.
        for user in ["u", "us", "use", "user"] {
            let basic = Data("\(user):\(Self.secret)".utf8).base64EncodedString()
            let masked = redactor.redact("Basic \(basic)")
            #expect(masked.contains("[secret:S]"), "\(user): \(masked)")
            #expect(!masked.contains(String(basic.dropFirst(4).prefix(12))), "\(user): \(masked)")
        }
    }

    @Test func aSecretInEveryPartOfARequestIsMaskedInAllTheRunWrites() async throws {
        try await HTTPHarness.with { h in
            let secrets = SecretStore(environment: ["WFLO_SECRET_S": Self.secret], filePath: nil)
            let result = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/anything"
                    query: {s: "{{secrets.S}}"}
                    headers: {X-Key: "{{secrets.S}}", Idempotency-Key: k1}
                    json: {token: "{{secrets.S}}"}
            """), secrets: secrets)
            #expect(result.status == .completed, "\(result.error ?? "")")
            // The service got the real value.
            let sent = try #require(h.service.requests().first)
            #expect(sent.headers["x-key"] == Self.secret)
            #expect(sent.uri.contains(Redactor.percentEncode(Self.secret)))
            let written = try await h.journalText(result.runID) + (result.outputs?.encoded() ?? "")
                + h.observer.all.map { "\($0)" }.joined(separator: "\n")
            for form in Self.encodings(of: Self.secret) {
                #expect(!written.contains(form), "'\(form)' is in what the run wrote")
            }
            #expect(written.contains("[secret:S]"))
        }
    }

    @Test func theErrorExcerptIsMaskedBeforeItIsCutAtEveryCutPoint() async throws {
        let token = HTTPHarness.token
        try await HTTPHarness.with { h in
            // The 404 body is "no route for GET <path>": pad the path so the cut at 300 falls at every
            // character of the token, and one past it.
            let before = "no route for GET /pad/".count
            for cut in 0...token.count {
                let padding = String(repeating: "p", count: 300 - before - cut)
                let result = try await h.run(h.workflow("""
                        url: "\(h.base)/pad/\(padding){{secrets.API_TOKEN}}"
                """))
                #expect(result.status == .failed)
                let error = result.error ?? ""
                let journal = try await h.journalText(result.runID)
                for length in 4...token.count {
                    for start in 0...(token.count - length) where length >= 6 {
                        let piece = String(token.dropFirst(start).prefix(length))
                        #expect(!error.contains(piece) && !journal.contains(piece), "cut \(cut): '\(piece)' leaked")
                    }
                }
            }
        }
    }
}
