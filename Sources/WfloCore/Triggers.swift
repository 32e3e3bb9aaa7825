import Foundation

/// What starts a deployed workflow's runs besides a person: its `triggers:` list.
public enum TriggerDefinition: Sendable, Hashable, Codable {
    case schedule(ScheduleTrigger)
    case webhook(WebhookTrigger)
}

/// When a schedule fires: a cron expression in a zone, or a fixed interval.
public enum ScheduleTiming: Sendable, Hashable, Codable {
    case cron(CronSchedule)
    /// Every so many seconds, on multiples of the interval since 1970 (UTC), so every process
    /// computes the same ticks.
    case every(Double)

    /// The first tick strictly after `date` (nil: none within 30 years).
    public func nextTick(after date: Date) -> Date? {
        switch self {
        case .cron(let cron):
            return cron.nextFire(after: date)
        case .every(let interval):
            let n = (date.timeIntervalSince1970 / interval).rounded(.down) + 1
            return Date(timeIntervalSince1970: n * interval)
        }
    }

    /// How the schedule reads in messages and in the journal's tick keys: `cron 0 9 * * MON-FRI Europe/Berlin`, `every 30s`.
    public var description: String {
        switch self {
        case .cron(let cron): return "cron \(cron.expression) \(cron.timeZone.identifier)"
        case .every(let seconds): return "every \(DurationText.describe(seconds))"
        }
    }
}

/// What to do with ticks missed while no process ran the schedule loop.
public enum Catchup: String, Sendable, Hashable, Codable, CaseIterable {
    /// Skip them: fire a tick only when a loop sees it on time, within half its period (at most 10 s)
    /// (``ScheduleTrigger/noneGrace(after:)``).
    case none
    /// Fire the latest missed tick once.
    case last
    /// Fire every missed tick (at most ``ScheduleTrigger/maximumCatchup``).
    case all
}

/// `- schedule: {cron: "0 9 * * MON-FRI", tz: Europe/Berlin, inputs: {…}, catchup: last}` or `{every: 30s}`.
public struct ScheduleTrigger: Sendable, Hashable, Codable {
    /// The most ticks one catch-up fires (`catchup: all` after a long outage).
    public static let maximumCatchup = 1000

    public var timing: ScheduleTiming
    public var inputs: JSONValue
    public var catchup: Catchup

    public init(timing: ScheduleTiming, inputs: JSONValue = .object([:]), catchup: Catchup = .last) {
        self.timing = timing
        self.inputs = inputs
        self.catchup = catchup
    }

    /// How late a tick may be seen and still fire with `catchup: none`: half the time to the next
    /// tick, at most 10 s (a loop looks every half second or so; a later look means no loop ran).
    public func noneGrace(after tick: Date) -> Double {
        let period = timing.nextTick(after: tick).map { $0.timeIntervalSince(tick) } ?? 20
        return min(10, period / 2)
    }

    /// The journal's key for this schedule of `workflow`: a run created for a tick carries it, and
    /// the tick's run is unique per key and tick.
    public func key(workflow: String) -> String { "\(workflow)|\(timing.description)" }

    /// The ticks to fire at `now`, oldest first, given the last tick already fired (nil: none yet)
    /// and when the schedule was deployed (ticks before it never fire). A pure rule.
    public func dueTicks(lastFired: Date?, deployedAt: Date, now: Date) -> [Date] {
        var from = max(lastFired ?? deployedAt, deployedAt)
        var due: [Date] = []
        while let tick = timing.nextTick(after: from), tick <= now {
            due.append(tick)
            from = tick
            if due.count > Self.maximumCatchup { due.removeFirst() }
        }
        guard let latest = due.last else { return [] }
        switch catchup {
        case .all:
            return due
        case .last:
            return [latest]
        case .none:
            return now.timeIntervalSince(latest) <= noneGrace(after: latest) ? [latest] : []
        }
    }
}

/// `- webhook: {name: new-ticket, secret: "{{secrets.HOOK_SECRET}}", inputs: {ticket: "{{body.id}}"}}`.
public struct WebhookTrigger: Sendable, Hashable, Codable {
    public var name: String
    /// The secret's name in the secret store (`{{secrets.NAME}}`); nil: unsigned deliveries are accepted.
    public var secretName: String?
    /// The run's inputs, templates of the delivery's JSON body (`{{body.PATH}}`).
    public var inputs: [String: TemplateValue]

    public init(name: String, secretName: String?, inputs: [String: TemplateValue]) {
        self.name = name
        self.secretName = secretName
        self.inputs = inputs
    }
}

/// `concurrency: {limit: N, key: "{{inputs.customer}}", on_conflict: queue|skip|cancel_running}`.
public struct ConcurrencySettings: Sendable, Hashable, Codable {
    public enum OnConflict: String, Sendable, Hashable, Codable, CaseIterable {
        case queue, skip
        case cancelRunning = "cancel_running"
    }

    public var limit: Int
    /// A template of the run's inputs; nil: one key for the whole workflow.
    public var key: Template?
    public var onConflict: OnConflict

    public init(limit: Int, key: Template?, onConflict: OnConflict) {
        self.limit = limit
        self.key = key
        self.onConflict = onConflict
    }
}

/// Why a run exists when no person started it: `"trigger": {"kind": "schedule", "at": …}` in its JSON.
public struct RunTrigger: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case schedule, webhook
    }

    public var kind: Kind
    /// The schedule's tick (a schedule) or the delivery's arrival (a webhook).
    public var at: Date
    /// The schedule's ``ScheduleTrigger/key(workflow:)``, or the webhook's name.
    public var key: String
    /// The webhook delivery's id, when it gave one.
    public var delivery: String?

    public init(kind: Kind, at: Date, key: String, delivery: String? = nil) {
        self.kind = kind
        self.at = at
        self.key = key
        self.delivery = delivery
    }

    /// The run's idempotency key for this trigger: one run per schedule tick, one per webhook delivery.
    public var idempotencyKey: String? {
        switch kind {
        case .schedule: return "schedule:\(key)@\(Int64((at.timeIntervalSince1970 * 1000).rounded()))"
        case .webhook: return delivery.map { "webhook:\(key):\($0)" }
        }
    }

    /// As `runs --json` and `status --json` print it.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["kind": .string(kind.rawValue), "at": .string(ISO8601DateFormatter().string(from: at))]
        switch kind {
        case .schedule: object["schedule"] = .string(key)
        case .webhook:
            object["name"] = .string(key)
            if let delivery { object["delivery"] = .string(delivery) }
        }
        return .object(object)
    }
}
