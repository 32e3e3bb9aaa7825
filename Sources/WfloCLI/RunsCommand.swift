import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloReports

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List runs, newest first.")

    @Option(help: "How many runs to list.")
    var limit = 50

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            // No journal yet: no runs, and nothing created by looking.
            let runs = store.exists ? try await store.withJournal { try await ReportService(store: $0).runs(limit: limit) } : []
            var rows: [JSONValue] = []
            var table: [[String]] = []
            for listing in runs {
                let (run, ledger, status) = (listing.run, listing.ledger, listing.shownStatus)
                var row: [String: JSONValue] = ["run_id": .string(run.id), "workflow": .string(run.workflowName), "status": .string(status),
                                                "budget_usd": run.budget.map { .string($0.exact()) } ?? .null,
                                                "spent_usd": .string(ledger.committed.exact()),
                                                "created_at": .string(run.createdAt.formatted(.iso8601)), "tags": .object(run.tags.mapValues { .string($0) })]
                if let trigger = run.trigger { row["trigger"] = trigger.json }
                rows.append(.object(row))
                table.append([run.id, run.workflowName, status, ledger.committed.formatted(decimals: 6),
                              run.budget?.formatted(decimals: 6) ?? "none", run.createdAt.formatted(.iso8601)])
            }
            if json {
                Console.out(JSONValue.array(rows).encoded(sorted: true, pretty: true) + "\n")
            } else if runs.isEmpty {
                Console.out("No runs yet. Start one with: wflo run FILE --budget USD\n")
            } else {
                Console.out(TextTable(header: ["run", "workflow", "status", "spent (USD)", "budget (USD)", "started"], rows: table,
                                      rightAligned: [3, 4]).render(separatorBefore: nil))
            }
        }
    }
}
