import ArgumentParser
import Foundation
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
            let journal = store.exists ? try store.open() : nil
            let runs = try await journal?.listRuns(limit: limit) ?? []
            var rows: [JSONValue] = []
            var table: [[String]] = []
            for run in runs {
                guard let journal else { break }
                let ledger = try await journal.ledger(runID: run.id)
                let status = try await ReportLoader.shownStatus(of: run, store: journal)
                rows.append(["run_id": .string(run.id), "workflow": .string(run.workflowName), "status": .string(status),
                             "budget_usd": run.budget.map { .string($0.exact()) } ?? .null, "spent_usd": .string(ledger.committed.exact()),
                             "created_at": .string(run.createdAt.formatted(.iso8601))])
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
