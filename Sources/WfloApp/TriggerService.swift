import Foundation
import Synchronization
import WfloCore
import WfloDSL

/// Deployed workflows and their schedules (issue 21): `wflo deploy`, `wflo workflows`,
/// `wflo undeploy`, and the schedule loop that `wflo worker` (and the server) run.
///
/// **Exactly once per tick.** ``fireDueSchedules(now:)`` enqueues each due tick's run with the
/// tick's ``RunTrigger/idempotencyKey``; the journal's unique key on it is claimed in the
/// transaction that creates the run, so any number of processes running the loop on one journal
/// make one run per tick (the others get the existing run and write nothing). Missed ticks
/// (no process ran the loop) follow the schedule's `catchup` (``ScheduleTrigger/dueTicks(lastFired:deployedAt:now:)``),
/// counted from the newest tick in the journal.
public final class TriggerService: Sendable {
    public let runs: RunService
    public var store: any JournalStore { runs.store }
    /// Parsed deployments by name and version: the loop reads the journal every pass, parses once.
    private let parsed = Mutex<[String: WorkflowDefinition]>([:])

    public init(runs: RunService) {
        self.runs = runs
    }

    // MARK: deploy, list, undeploy

    /// Validates the file and registers it as the workflow's next version; its triggers start at once.
    /// - Throws: ``AppError`` `.invalidInput` for an invalid file, or one with triggers but no `budget:`
    ///   (a triggered run has nobody to give `--budget`).
    public func deploy(file path: String, at now: Date = Date()) async throws -> (DeploymentRecord, WorkflowDefinition) {
        let workflow = try runs.load(file: path)
        let definition = workflow.definition
        if !definition.triggers.isEmpty && definition.budget == nil {
            throw AppError(.invalidInput, "\(path): workflow '\(definition.name)' has triggers but no 'budget:'; a triggered run has nobody to give --budget, so write the most one run may spend, such as 'budget: 0.50'")
        }
        let record = try await store.deploy(DeploymentRequest(name: definition.name, path: path, source: workflow.source, at: now))
        return (record, definition)
    }

    /// - Throws: ``AppError`` `.notFound` when no workflow of that name is deployed.
    public func undeploy(name: String, at now: Date = Date()) async throws {
        guard try await store.undeploy(name: name, at: now) else {
            let names = try await store.deployments().map(\.name)
            throw AppError(.notFound, "no deployed workflow is named '\(name)'" + (names.isEmpty ? " (none is deployed)" : WorkflowParser.didYouMean(name, in: names)))
        }
    }

    /// A deployed workflow as `wflo workflows` shows it.
    public struct DeployedWorkflow: Sendable {
        public var deployment: DeploymentRecord
        public var triggers: [TriggerStatus]
        public var lastRun: RunRecord?
    }

    public struct TriggerStatus: Sendable {
        /// `cron 0 9 * * MON-FRI Europe/Berlin`, `every 30s`, `webhook new-ticket`.
        public var description: String
        /// When a schedule fires next; nil for a webhook.
        public var nextFire: Date?
    }

    public func workflows(at now: Date = Date()) async throws -> [DeployedWorkflow] {
        var result: [DeployedWorkflow] = []
        for deployment in try await store.deployments() {
            let definition = try self.definition(of: deployment)
            let triggers = definition.triggers.map { trigger -> TriggerStatus in
                switch trigger {
                case .schedule(let s): return TriggerStatus(description: s.timing.description, nextFire: s.timing.nextTick(after: now))
                case .webhook(let w): return TriggerStatus(description: "webhook \(w.name)", nextFire: nil)
                }
            }
            result.append(DeployedWorkflow(deployment: deployment, triggers: triggers,
                                           lastRun: try await store.latestRun(workflowName: deployment.name)))
        }
        return result
    }

    /// The active deployment with a webhook named `name`, its definition and the trigger; nil when none.
    public func webhook(named name: String) async throws -> (DeploymentRecord, WorkflowDefinition, WebhookTrigger)? {
        for deployment in try await store.deployments() {
            guard let definition = try? self.definition(of: deployment) else { continue }
            for case .webhook(let hook) in definition.triggers where hook.name == name { return (deployment, definition, hook) }
        }
        return nil
    }

    private func definition(of deployment: DeploymentRecord) throws -> WorkflowDefinition {
        let key = "\(deployment.name)#\(deployment.version)"
        if let cached = parsed.withLock({ $0[key] }) { return cached }
        let definition = try WorkflowLoader.parse(source: deployment.source, file: deployment.path, pricing: runs.pricing)
        parsed.withLock { $0[key] = definition }
        return definition
    }

    // MARK: the schedule loop

    /// A run a tick made (or found made by another process).
    public struct FiredTick: Sendable, Hashable {
        public var workflow: String
        public var tick: Date
        public var runID: String
        /// False when another process had already created this tick's run.
        public var created: Bool
    }

    /// One pass of the schedule loop at `now`: enqueues a run for every due tick of every deployed
    /// schedule (``ScheduleTrigger/dueTicks(lastFired:deployedAt:now:)``), once per tick across processes.
    /// A deployment that no longer parses (the pricing table changed) is skipped and reported in `problems`.
    public func fireDueSchedules(now: Date = Date()) async throws -> (fired: [FiredTick], problems: [String]) {
        var fired: [FiredTick] = []
        var problems: [String] = []
        for deployment in try await store.deployments() {
            let definition: WorkflowDefinition
            do { definition = try self.definition(of: deployment) } catch {
                problems.append("deployed workflow '\(deployment.name)' v\(deployment.version) no longer loads: \(error)")
                continue
            }
            for case .schedule(let schedule) in definition.triggers {
                let key = schedule.key(workflow: definition.name)
                let last = try await store.lastTick(scheduleKey: key)
                for tick in schedule.dueTicks(lastFired: last, deployedAt: deployment.deployedAt, now: now) {
                    let inputs: JSONValue
                    do {
                        inputs = try InputBinder.bind(definition, arguments: [], file: schedule.inputs)
                    } catch {
                        problems.append("deployed workflow '\(definition.name)': the schedule '\(schedule.timing.description)': \(error)")
                        break
                    }
                    let trigger = RunTrigger(kind: .schedule, at: tick, key: key)
                    let outcome = try await runs.submit(
                        RunService.Workflow(definition: definition, source: deployment.source, origin: .file(path: deployment.path)),
                        inputs: inputs, budget: definition.budget, idempotencyKey: trigger.idempotencyKey, trigger: trigger)
                    if case .enqueued = outcome {
                        fired.append(FiredTick(workflow: definition.name, tick: tick, runID: outcome.run.id, created: true))
                    } else {
                        fired.append(FiredTick(workflow: definition.name, tick: tick, runID: outcome.run.id, created: false))
                    }
                }
            }
        }
        return (fired, problems)
    }

    /// Runs ``fireDueSchedules(now:)`` every `interval` seconds until the task is cancelled or
    /// `isStopping` says so. Failures (a busy journal) are told to `log` and the loop goes on.
    public func runScheduleLoop(interval: Double, isStopping: @Sendable () -> Bool = { false },
                                log: @Sendable (String) -> Void = { _ in }) async {
        var lastProblems: [String] = []
        while !Task.isCancelled && !isStopping() {
            do {
                let (_, problems) = try await fireDueSchedules()
                if problems != lastProblems { problems.forEach(log) }
                lastProblems = problems
            } catch {
                log("the schedule loop could not read or write the journal: \(error); trying again")
            }
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }
}
