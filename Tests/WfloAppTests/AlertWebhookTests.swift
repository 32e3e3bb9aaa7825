import Foundation
import Testing
import WfloApp
import WfloCore

/// The body an alert's webhook gets, and which URLs are Slack's.
struct AlertWebhookTests {
    static let alert = AlertRecord(id: "al-1", scope: "research", threshold: Decimal(string: "0.8")!, spent: Money(string: "40.0000375")!,
                                   limit: Money(50), periodStart: Date(timeIntervalSince1970: 1_796_256_000),
                                   resetsAt: Date(timeIntervalSince1970: 1_796_342_400), webhook: "https://example.com/hooks/secret-token",
                                   createdAt: Date(timeIntervalSince1970: 1_796_300_000))

    @Test func theBodyCarriesTheContractKeysWithExactMoney() throws {
        let body = AlertWebhook.body(for: Self.alert, slack: false)
        #expect(Set(body.objectValue?.keys.map { $0 } ?? []) == ["alert_id", "scope", "threshold", "spent_usd", "limit_usd", "period_start", "resets_at"])
        #expect(body["scope"] == "research")
        #expect(body["threshold"] == .number("0.8"))
        #expect(body["spent_usd"] == "40.0000375")
        #expect(body["limit_usd"] == "50.000000")
        #expect(body["period_start"] == "2026-12-03T00:00:00Z")
        #expect(body["resets_at"] == "2026-12-04T00:00:00Z")
        #expect(body["text"] == nil)
        // It is valid JSON as sent.
        #expect(try JSONValue.parse(body.encoded(sorted: true)) == body)
    }

    @Test func aScopeThatNeverResetsSaysSo() {
        var alert = Self.alert
        alert.resetsAt = nil
        let body = AlertWebhook.body(for: alert, slack: true)
        #expect(body["resets_at"] == .null)
        #expect(body["text"]?.stringValue?.contains("never resets") == true)
    }

    @Test func slackGetsAReadableText() {
        let body = AlertWebhook.body(for: Self.alert, slack: true)
        #expect(body["text"] == .string("Budget scope research reached 80% of its limit: $40.00 of $50.00 committed since 2026-12-03T00:00:00Z; it resets at 2026-12-04T00:00:00Z."))
        #expect(body["spent_usd"] == "40.0000375", "the contract keys are there for Slack too")
        var small = Self.alert
        small.spent = Money(string: "0.0042")!
        small.limit = Money(string: "0.005")!
        small.threshold = Decimal(string: "0.95")!
        #expect(AlertWebhook.text(for: small).hasPrefix("Budget scope research reached 95% of its limit: $0.0042 of $0.005 committed"))
    }

    @Test(arguments: [
        ("https://hooks.slack.com/services/T000/B000/XXXX", true),
        ("https://HOOKS.SLACK.COM/services/T000/B000/XXXX", true),
        ("https://example.com/hooks.slack.com/services/x", false),
        ("https://hooks.slack.com.evil.example/services/x", false),
        ("https://evil.example/?u=https://hooks.slack.com/", false),
        ("not a url", false),
    ])
    func slackIsRecognisedByTheHostAlone(url: String, slack: Bool) {
        #expect(AlertWebhook.isSlack(url: url) == slack)
    }

    @Test func errorsShowTheOriginNeverThePath() {
        #expect(AlertWebhook.origin(of: "https://hooks.slack.com/services/T000/B000/XXXX") == "https://hooks.slack.com")
        #expect(AlertWebhook.origin(of: "http://127.0.0.1:8080/fail/1?token=abc") == "http://127.0.0.1:8080")
    }
}
