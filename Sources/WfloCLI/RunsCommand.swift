import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloReports

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List runs, newest first.",
        discussion: "--failed lists the dead letters: failed runs with the step that failed first and why (continue them with wflo retry).")

    @Option(help: "How many runs to list.")
    var limit = 50

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Only failed runs, with the step that failed and why.")
    var failed = false

    @Option(help: "With --failed: only runs started since then (30m, 12h, 7d, 2w, or a date).")
    var since: String?

    @Option(help: "With --failed: only runs of this workflow.")
    var workflow: String?

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if !failed && (since != nil || workflow != nil) { throw ValidationError("--since and --workflow go with --failed (wflo runs --failed --since 1d)") }
    }

    func run() async throws {
        if failed { return try await listFailed() }
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
                if let concurrency = run.concurrency {
                    // Its key, and why it ended when the key's on_conflict ended it (skip, cancel_running).
                    row["concurrency"] = concurrency.json
                    row["error"] = run.error.map { .string($0) } ?? .null
                }
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

    /// `--failed`: the dead letters.
    private func listFailed() async throws {
        try await reportingErrors {
            let start: Date?
            do {
                start = try since.map { try ReportSince.parse($0, now: Date()) }
            } catch let error as ReportError {
                throw CLIError(error.message, exitCode: 2)
            }
            let letters = store.exists ? try await store.withJournal { try await $0.failedRuns(since: start, workflow: workflow, limit: limit) } : []
            if json {
                Console.out(JSONValue.array(letters.map(RecoveryService.json)).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if letters.isEmpty {
                Console.out("No failed runs\(since.map { " since \($0)" } ?? "")\(workflow.map { " of workflow \($0)" } ?? "").\n")
                return
            }
            let rows = letters.map { letter -> [String] in
                let reason = letter.reason ?? ""
                return [letter.run.id, letter.run.workflowName, letter.failedStep ?? "(the run)", reason.count > 70 ? String(reason.prefix(70)) + "…" : reason,
                        letter.run.updatedAt.formatted(.iso8601)]
            }
            Console.out(TextTable(header: ["run", "workflow", "failed step", "reason", "failed at"], rows: rows).render(separatorBefore: nil))
            Console.out("Retry one: wflo retry RUN · all of them: wflo retry --failed\(workflow.map { " --workflow \($0)" } ?? "")\(since.map { " --since \($0)" } ?? "") [--dry-run]\n")
        }
    }
}
