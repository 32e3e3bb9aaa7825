import ArgumentParser
import Foundation
import WfloCore
import WfloDSL
import WfloReports
import WfloStore

extension ReportFormat: ExpressibleByArgument {}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "A run's cost breakdown: per step, per model, totals, budget.")

    @Argument(help: "The run id, or a unique prefix of it.")
    var run: String

    @Option(help: "table, json, csv or markdown.")
    var format: ReportFormat = .table

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let store = try store.open()
            Console.out(try await ReportLoader.load(run: run, store: store).render(format))
        }
    }
}

/// Builds a run's report from the journal, listing the workflow's steps in file order.
enum ReportLoader {
    static func load(run: String, store: SQLiteJournalStore) async throws -> RunReport {
        let runID: String
        do {
            runID = try await store.resolveRunID(prefix: run)
        } catch let error as StoreError {
            throw CLIError(error.message, exitCode: 2)
        }
        let journal = try await store.journal(runID: runID)
        // The definition is only needed for the step order; a run whose source no longer
        // parses still reports what the journal holds.
        let planned = (try? WorkflowParser().parse(yaml: journal.run.workflowSource, file: journal.run.workflowPath))?
            .steps.map { (id: $0.id, type: $0.type.rawValue) } ?? []
        return RunReport(journal: journal, plannedSteps: planned)
    }
}
