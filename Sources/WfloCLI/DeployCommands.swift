import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloEngine
import WfloReports

/// `wflo deploy FILE`: registers a new version of a workflow with its triggers.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Register (a new version of) a workflow with its triggers: schedules fire from `wflo worker`.",
        discussion: """
            The file is validated first; each deploy of a name is a new version and the newest is active. \
            A workflow with triggers must say its 'budget:' (a triggered run has nobody to give --budget). \
            Schedules fire exactly once per tick however many workers run on the journal.
            """
    )

    @Argument(help: "The workflow file.")
    var file: String

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: pricing, createJournal: true)
            do {
                let service = TriggerService(runs: environment.runs(observer: SilentObserver()))
                let (record, definition) = try await service.deploy(file: file)
                let statuses = try await service.workflows().first { $0.deployment.name == record.name }?.triggers ?? []
                try await environment.close()
                if json {
                    Console.out(JSONValue.object(["workflow": .string(record.name), "version": .int(record.version),
                                                  "triggers": .array(statuses.map(WorkflowsCommand.json))]).encoded(sorted: true, pretty: true) + "\n")
                } else {
                    var text = "Deployed \(record.name) v\(record.version) (\(definition.triggers.count) trigger\(definition.triggers.count == 1 ? "" : "s"))\n"
                    for status in statuses { text += "  \(WorkflowsCommand.line(status))\n" }
                    Console.out(text)
                }
            } catch {
                try? await environment.close()
                throw error
            }
        }
    }
}

/// `wflo workflows [--json]`: the deployed workflows, each trigger's next fire time and the last run.
struct WorkflowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workflows",
                                                    abstract: "List deployed workflows: their triggers' next fire times and their last run.")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var pricing: PricingOptions

    static func json(_ status: TriggerService.TriggerStatus) -> JSONValue {
        ["trigger": .string(status.description), "next_fire": status.nextFire.map { .string($0.formatted(.iso8601)) } ?? .null]
    }

    static func line(_ status: TriggerService.TriggerStatus) -> String {
        status.description + (status.nextFire.map { " · next \($0.formatted(.iso8601))" } ?? "")
    }

    func run() async throws {
        try await reportingErrors {
            guard store.exists else {
                Console.out(json ? "[]\n" : "No workflow is deployed. Deploy one with: wflo deploy FILE\n")
                return
            }
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: pricing)
            let workflows: [TriggerService.DeployedWorkflow]
            do {
                workflows = try await TriggerService(runs: environment.runs(observer: SilentObserver())).workflows()
                try await environment.close()
            } catch {
                try? await environment.close()
                throw error
            }
            if json {
                Console.out(JSONValue.array(workflows.map { w in
                    [
                        "workflow": .string(w.deployment.name), "version": .int(w.deployment.version), "path": .string(w.deployment.path),
                        "deployed_at": .string(w.deployment.deployedAt.formatted(.iso8601)),
                        "triggers": .array(w.triggers.map(Self.json)),
                        "last_run": w.lastRun.map { run in
                            ["run_id": .string(run.id), "status": .string(run.status.rawValue), "created_at": .string(run.createdAt.formatted(.iso8601))]
                        } ?? .null,
                    ]
                }).encoded(sorted: true, pretty: true) + "\n")
            } else if workflows.isEmpty {
                Console.out("No workflow is deployed. Deploy one with: wflo deploy FILE\n")
            } else {
                let rows = workflows.map { w -> [String] in
                    [w.deployment.name, "v\(w.deployment.version)",
                     w.triggers.isEmpty ? "none" : w.triggers.map(\.description).joined(separator: "; "),
                     w.triggers.compactMap(\.nextFire).min().map { $0.formatted(.iso8601) } ?? "-",
                     w.lastRun.map { "\($0.id.prefix(8)) \($0.status.rawValue)" } ?? "-"]
                }
                Console.out(TextTable(header: ["workflow", "version", "triggers", "next fire", "last run"], rows: rows).render(separatorBefore: nil))
            }
        }
    }
}

/// `wflo undeploy NAME`: its triggers stop; its runs and versions stay in the journal.
struct UndeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undeploy",
                                                    abstract: "Stop a deployed workflow's triggers (its runs and versions stay in the journal).")

    @Argument(help: "The workflow's name.")
    var name: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            guard store.exists else { throw AppError(.notFound, "no deployed workflow is named '\(name)' (none is deployed)") }
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: nil)
            do {
                try await TriggerService(runs: environment.runs(observer: SilentObserver())).undeploy(name: name)
                try await environment.close()
            } catch {
                try? await environment.close()
                throw error
            }
            Console.out("Undeployed \(name): its triggers no longer fire.\n")
        }
    }
}
