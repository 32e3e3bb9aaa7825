import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloReports

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a run's state and its steps.")

    @Argument(help: "The run id, or a unique prefix of it.")
    var run: String

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let (report, record) = try await store.withJournal { journal in
                let report = try await ReportService(store: journal).runReport(run)
                return (report, try await journal.run(id: report.runID))
            }
            if json {
                var object: [String: JSONValue] = [
                    "run_id": .string(report.runID), "workflow": .string(report.workflow), "status": .string(report.shownStatus),
                    "budget_usd": report.budget.map { .string($0.exact()) } ?? .null, "spent_usd": .string(report.spent.exact()),
                    "outputs": report.outputs ?? .null, "error": report.error.map { .string($0) } ?? .null,
                    "queue": report.queue.map { .string($0) } ?? .null,
                    "tags": .object(report.tags.mapValues { .string($0) }),
                    "steps": .array(report.steps.map { ["id": .string($0.id), "type": .string($0.type), "status": .string($0.status),
                                                         "cost_usd": .string(($0.subtotal?.cost ?? $0.cost).exact())] }),
                ]
                if let trigger = record?.trigger { object["trigger"] = trigger.json }
                if let concurrency = record?.concurrency { object["concurrency"] = concurrency.json }
                Console.out(JSONValue.object(object).encoded(sorted: true, pretty: true) + "\n")
            } else {
                var text = "Run \(report.runID) · \(report.workflow) · \(report.shownStatus) · spent \(report.spent.dollars())"
                if let budget = report.budget { text += " of \(budget.dollars())" }
                text += "\n\n"
                text += TextTable(header: ["step", "type", "status", "cost (USD)"],
                                  rows: report.steps.map { [$0.id, $0.type, $0.status, $0.shownCost] },
                                  rightAligned: [3]).render(separatorBefore: nil)
                if let error = report.error { text += "\nerror: \(error)\n" }
                if report.shownStatus == "interrupted", case .durable(_, let program) = WorkflowOrigin(journaledPath: report.workflowPath) {
                    text += "\nThe process driving this run is gone (Ctrl-C, kill, crash); its journal is intact. Continue by running the program '\(program)' again with the run id \(report.runID)\n"
                } else if report.shownStatus == "interrupted" {
                    text += "\nThe process driving this run is gone (Ctrl-C, kill, crash); its journal is intact. Continue with: wflo resume \(report.runID.prefix(8))\n"
                } else if report.shownStatus == RunStatus.queued.rawValue, let concurrency = record?.concurrency,
                          let occupants = try? await store.withJournal({ try await $0.concurrencyOccupants(workflow: report.workflow, key: concurrency.key) }),
                          !occupants.contains(where: { $0.runID == report.runID && $0.holdsSlot }) {
                    let holders = occupants.filter(\.holdsSlot).map { String($0.runID.prefix(8)) }
                    text += "\nWaiting for a concurrency slot: \(concurrency.keyPhrase), limit \(concurrency.limit), held by \(holders.isEmpty ? "no run now" : holders.joined(separator: ", ")).\n"
                } else if report.shownStatus == RunStatus.queued.rawValue, let queue = report.queue {
                    text += "\nWaiting on queue '\(queue)' for a worker (wflo worker); it continues from the journal, nothing done is run again.\n"
                }
                Console.out(text)
            }
        }
    }
}
