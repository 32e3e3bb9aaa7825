import Foundation

/// Deployed workflows (`wflo deploy`, `wflo workflows`, `wflo undeploy`) and what the schedule
/// loop reads to fire their ticks exactly once (issue 21).
///
/// A schedule's tick becomes a run through ``RunQueueStore/enqueueRun(_:)`` with the tick's
/// ``RunTrigger/idempotencyKey``: the key is unique in the journal and is claimed in the
/// transaction that creates the run, so however many processes run the schedule loop on one
/// journal, each tick makes one run.
public protocol DeploymentStore: Sendable {
    /// Registers a new version of the workflow named in `deployment` (1 for the first; one more
    /// than the newest otherwise, undeployed ones included) and makes it the active one.
    func deploy(_ deployment: DeploymentRequest) async throws -> DeploymentRecord
    /// The active deployments (each name's newest version, unless undeployed), by name.
    func deployments() async throws -> [DeploymentRecord]
    /// Stops the workflow's triggers. Returns false (writing nothing) when it is not deployed.
    func undeploy(name: String, at: Date) async throws -> Bool
    /// The newest tick a run was created for, for a schedule's ``ScheduleTrigger/key(workflow:)``; nil when none.
    func lastTick(scheduleKey: String) async throws -> Date?
    /// The newest run of a workflow (by creation), whatever started it.
    func latestRun(workflowName: String) async throws -> RunRecord?
    /// Counts a webhook delivery refused for a missing or bad signature: the only thing such a delivery writes.
    func countRejectedDelivery(hook: String, at: Date) async throws
    /// How many deliveries to the webhook were refused for their signature.
    func rejectedDeliveries(hook: String) async throws -> Int
}

/// What `wflo deploy` writes.
public struct DeploymentRequest: Sendable, Hashable {
    public var name: String
    /// The file as given, for people.
    public var path: String
    /// The workflow's YAML text: what the triggers' runs execute.
    public var source: String
    public var at: Date

    public init(name: String, path: String, source: String, at: Date) {
        self.name = name
        self.path = path
        self.source = source
        self.at = at
    }
}

/// A version of a deployed workflow.
public struct DeploymentRecord: Sendable, Hashable {
    public var name: String
    public var version: Int
    public var path: String
    public var source: String
    public var deployedAt: Date

    public init(name: String, version: Int, path: String, source: String, deployedAt: Date) {
        self.name = name
        self.version = version
        self.path = path
        self.source = source
        self.deployedAt = deployedAt
    }
}
