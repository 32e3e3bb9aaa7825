import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloReports

/// `wflo alerts`: the budget-alert outbox and where each alert is in its delivery.
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Budget alerts (thresholds crossed by budget scopes) and their webhook delivery.",
        discussion: """
            An alert is written once per scope, period and threshold, in the transaction of the reservation
            that crossed it. `wflo run`, `wflo resume` and `wflo worker` post it to the scope's --webhook,
            retrying with backoff (30s doubling to 30min, 8 attempts); then it is dead and shown here with
            its last error. States: pending, retrying, delivered, dead, recorded (the scope had no webhook).
            """)

    @Option(help: "Only this scope's alerts.")
    var scope: String?

    @Flag(help: "Print a JSON array (oldest first).")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let alerts = try await store.withJournal { try await $0.alerts(scope: scope) }
            if json {
                Console.out(JSONValue.array(alerts.map(\.listingJSON)).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if alerts.isEmpty {
                Console.out("No budget alerts" + (scope.map { " for scope \($0)" } ?? "") + ": no scope has crossed an --alert-at threshold.\n")
                return
            }
            let rows = alerts.map { alert -> [String] in
                let listing = alert.listingJSON
                return [alert.scope, alert.thresholdText, listing["period_start"]?.stringValue ?? "", alert.spent.dollars(),
                        alert.deliveryState.rawValue, String(alert.attempts),
                        listing["next_attempt_at"]?.stringValue ?? listing["delivered_at"]?.stringValue ?? "", alert.lastError ?? ""]
            }
            Console.out(TextTable(header: ["SCOPE", "AT", "PERIOD START", "COMMITTED", "STATE", "ATTEMPTS", "NEXT / DELIVERED", "LAST ERROR"],
                                  rows: rows, rightAligned: [1, 3, 5]).render(separatorBefore: nil))
        }
    }
}
