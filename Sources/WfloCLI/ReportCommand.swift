import ArgumentParser
import Foundation
import WfloApp
import WfloReports

extension ReportFormat: ExpressibleByArgument {
    /// The format's name, or `md` for markdown.
    public init?(argument: String) {
        self.init(rawValue: argument == "md" ? "markdown" : argument)
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Cost breakdown of one run, or spend across the runs started since a time.",
        discussion: """
            One run:     wflo report RUN [--format table|json|csv|markdown|html]
            Across runs: wflo report --since 7d [--workflow NAME] [--by model|workflow|day|step|scope] [--top N] [--format …]
            Give exactly one of RUN and --since. --since takes a duration back from now (30m, 12h, 7d, 2w)
            or a UTC date (2026-11-01). --by scope groups runs by the budget scopes (`wflo budgets`) whose --match
            their tags satisfy; a run counts in each of them. Money is exact in json and csv, rounded to 6 decimals elsewhere.
            The JSON keys of both reports are documented in docs/report-json.md.
            """)

    @Argument(help: "The run id, or a unique prefix of it. Omit it with --since.")
    var run: String?

    @Option(help: "Report across the runs started since then: 30m, 12h, 7d, 2w, or a date like 2026-11-01 (UTC).")
    var since: String?

    @Option(help: "With --since: only runs of this workflow (its name).")
    var workflow: String?

    @Option(help: "With --since: group by model, workflow, day, step or scope (default model).")
    var by: String?

    @Option(help: "With --since: how many of the most expensive steps to list (default 10).")
    var top: Int?

    @Option(help: "table, json, csv, markdown (or md) or html.")
    var format: ReportFormat = .table

    @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
    var output: String?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let request = try ReportRequest(run: run, since: since, workflow: workflow, by: by, top: top, now: Date())
            let text = try await store.withJournal { journal in
                let reports = ReportService(store: journal)
                switch request {
                case .run(let run):
                    return try await reports.runReport(run).render(format)
                case .across(let since, let until, let workflow, let grouping, let top):
                    return try await reports.spendReport(since: since, until: until, workflow: workflow, grouping: grouping, top: top).render(format)
                }
            }
            if let output {
                do {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
                } catch {
                    throw CLIError("--output \(output) could not be written (\(error.localizedDescription)); give a path in a writable folder", exitCode: 1)
                }
            } else {
                Console.out(text)
            }
        }
    }
}

/// What `wflo report` was asked for, checked: one run, or spend across runs since a time.
/// Every usage mistake is a `CLIError` with exit code 2 naming the flag.
enum ReportRequest {
    case run(String)
    case across(since: Date, until: Date, workflow: String?, grouping: SpendReport.Grouping, top: Int)

    init(run: String?, since: String?, workflow: String?, by: String?, top: Int?, now: Date) throws {
        switch (run, since) {
        case (nil, nil):
            throw CLIError("give a run id (wflo report RUN) or a window (wflo report --since 7d); `wflo runs` lists the runs", exitCode: 2)
        case (_?, _?):
            throw CLIError("give either a run id or --since, not both: wflo report RUN reports one run, wflo report --since 7d reports across runs", exitCode: 2)
        case (let run?, nil):
            for (flag, value) in [("--workflow", workflow), ("--by", by), ("--top", top.map(String.init))] where value != nil {
                throw CLIError("\(flag) applies to reports across runs; use it with --since (wflo report --since 7d \(flag) …), not with a run id", exitCode: 2)
            }
            self = .run(run)
        case (nil, let since?):
            do {
                let start = try ReportSince.parse(since, now: now)
                let grouping = try by.map(SpendReport.Grouping.parse) ?? .model
                if let top, top < 0 { throw CLIError("--top \(top) must be zero or more (write --top 10)", exitCode: 2) }
                if let workflow, workflow.trimmingCharacters(in: .whitespaces).isEmpty {
                    throw CLIError("--workflow is empty; give a workflow's name (the `name:` of its file; `wflo runs` lists them)", exitCode: 2)
                }
                self = .across(since: start, until: now, workflow: workflow, grouping: grouping, top: top ?? 10)
            } catch let error as ReportError {
                throw CLIError(error.message, exitCode: 2)
            }
        }
    }
}
