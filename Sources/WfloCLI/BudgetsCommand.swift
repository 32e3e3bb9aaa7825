import ArgumentParser
import Foundation
import WfloCore
import WfloReports

/// `wflo budgets` (list), `wflo budgets set NAME --limit USD …` and `wflo budgets rm NAME`.
struct BudgetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budgets",
        abstract: "Budget scopes across runs: a team, project, customer or key may spend at most a limit per period.",
        discussion: """
            A scope holds every run whose tags (`wflo run FILE --tag KEY=VALUE`, the workflow's `tags:`) include all of \
            its --match tags (no --match: every run). Each paid call reserves its worst case against the run's budget \
            and every matching scope in one transaction; a call that does not fit is refused before any traffic and \
            the run stops with exit 3. Periods are calendar days, weeks (from Monday, ISO 8601) or months in the \
            scope's --tz (default UTC); none never resets. A $0 (free or local) call always passes. Each --alert-at \
            threshold writes one alert per period to the journal's outbox, delivered to --webhook.
            """,
        subcommands: [BudgetsListCommand.self, BudgetsSetCommand.self, BudgetsRemoveCommand.self],
        defaultSubcommand: BudgetsListCommand.self
    )
}

struct BudgetsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every scope with its current period's spend.")

    @Flag(help: "Print a JSON array.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let now = Date()
            let scopes = store.exists ? try await store.withJournal { try await $0.budgetScopes(at: now) } : []
            if json {
                Console.out(JSONValue.array(scopes.map(Self.json)).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if scopes.isEmpty {
                Console.out("No budget scopes. Add one with: wflo budgets set NAME --limit USD [--period day] [--match KEY=VALUE]\n")
                return
            }
            let rows = scopes.map { status -> [String] in
                let scope = status.scope
                let match = scope.match.isEmpty ? "every run" : scope.match.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                return [scope.name, match, scope.limit.exact(minimumDecimals: 2), scope.period.rawValue, status.window.spent.formatted(decimals: 6),
                        status.window.reserved.formatted(decimals: 6),
                        status.window.key.resetsAt.map { BudgetScopeText.timestamp($0, zone: scope.timeZone) } ?? "never",
                        status.lastPeriodSpent?.formatted(decimals: 6) ?? ""]
            }
            Console.out(TextTable(header: ["SCOPE", "MATCH", "LIMIT (USD)", "PERIOD", "SPENT", "RESERVED", "RESETS AT", "LAST PERIOD"], rows: rows,
                                  rightAligned: [2, 4, 5, 7]).render(separatorBefore: nil))
        }
    }

    /// `https://hooks.slack.com/…` for a webhook URL: its scheme, host and port, never its path or query.
    static func origin(of url: String) -> String {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme, let host = parts.host else { return "(set)" }
        return "\(scheme)://\(host)" + (parts.port.map { ":\($0)" } ?? "") + "/…"
    }

    static func json(_ status: BudgetScopeStatus) -> JSONValue {
        let scope = status.scope
        return [
            "name": .string(scope.name),
            "limit_usd": .string(scope.limit.exact()),
            "period": .string(scope.period.rawValue),
            "time_zone": .string(scope.timeZone),
            "match": .object(scope.match.mapValues { .string($0) }),
            "alert_at": .array(scope.alertThresholds.map { .string(BudgetScopeText.fraction($0)) }),
            // A webhook URL's path is often its secret (Slack's is): only where it goes is shown.
            "webhook": scope.webhook.map { .string(Self.origin(of: $0)) } ?? .null,
            "spent_usd": .string(status.window.spent.exact()),
            "reserved_usd": .string(status.window.reserved.exact()),
            "period_start": scope.period == .none ? .null : .string(BudgetScopeText.timestamp(status.window.key.periodStart, zone: scope.timeZone)),
            "resets_at": status.window.key.resetsAt.map { .string(BudgetScopeText.timestamp($0, zone: scope.timeZone)) } ?? .null,
            "last_period_spent_usd": status.lastPeriodSpent.map { .string($0.exact()) } ?? .null,
        ]
    }
}

struct BudgetsSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Create a scope, or change the one with this name.")

    @Argument(help: "The scope's name (one word).")
    var name: String

    @Option(help: "The most the matching runs may commit per period, in USD.")
    var limit: String

    @Option(help: "none (never resets), day, week (from Monday) or month.")
    var period: String = BudgetPeriod.none.rawValue

    @Option(help: "The IANA time zone the periods are aligned in (e.g. Europe/Berlin).")
    var tz: String = "UTC"

    @Option(name: .customLong("match"), help: "A tag the runs must carry, KEY=VALUE (repeatable; all must match; none: every run).")
    var matches: [String] = []

    @Option(help: "Fractions of the limit that raise an alert once per period, e.g. 0.5,0.8,0.95.")
    var alertAt: String?

    @Option(help: "An http(s) URL the alerts are posted to (a Slack incoming webhook gets readable text too).")
    var webhook: String?

    @OptionGroup var store: StoreOptions

    /// The scope these flags describe.
    /// - Throws: ``CLIError`` (exit 2) naming the flag.
    func scope(at now: Date) throws -> BudgetScope {
        guard let amount = Money(string: limit), amount.isFinite, !amount.isNegative else {
            throw CLIError("--limit '\(limit)' must be a non-negative amount in USD, e.g. --limit 50", exitCode: 2)
        }
        guard let period = BudgetPeriod(rawValue: period) else {
            throw CLIError("--period '\(self.period)' must be one of none, day, week, month", exitCode: 2)
        }
        var match: [String: String] = [:]
        for text in matches {
            guard let (key, value) = BudgetScopeText.tag(text) else {
                throw CLIError("--match '\(text)' must be KEY=VALUE with a non-empty KEY (e.g. --match team=research)", exitCode: 2)
            }
            match[key] = value
        }
        var thresholds: [Decimal] = []
        if let alertAt {
            do {
                thresholds = try BudgetScopeText.thresholds(alertAt)
            } catch let error as BudgetScopeInputError {
                throw CLIError(error.message, exitCode: 2)
            }
        }
        let scope = BudgetScope(name: name, limit: amount, period: period, timeZone: tz, match: match, alertThresholds: thresholds,
                                webhook: webhook, createdAt: now)
        if let problem = scope.validationProblem { throw CLIError(problem, exitCode: 2) }
        return scope
    }

    func run() async throws {
        try await reportingErrors {
            let now = Date()
            let scope = try scope(at: now)
            let status = try await store.withJournal(creating: true) { journal -> BudgetScopeStatus? in
                try await journal.setBudgetScope(scope)
                return try await journal.budgetScopes(at: now).first { $0.scope.name == scope.name }
            }
            // Exact, with at least cents: a limit of 0.001 must not read as $0.00.
            var line = "Budget scope '\(scope.name)': $\(scope.limit.exact(minimumDecimals: 2))"
            line += scope.period == .none ? " in total" : " per \(scope.period.rawValue) (\(scope.timeZone))"
            line += scope.match.isEmpty ? " for every run" : " for runs tagged " + scope.match.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: " ")
            if let status {
                line += "; \(status.window.committed.dollars()) committed this period"
                if let resets = status.window.key.resetsAt { line += ", resets at \(BudgetScopeText.timestamp(resets, zone: scope.timeZone))" }
            }
            Console.out(line + "\n")
        }
    }
}

struct BudgetsRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a scope (its windows go with it; alerts already written stay).")

    @Argument(help: "The scope's name.")
    var name: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let removed = store.exists ? try await store.withJournal { try await $0.removeBudgetScope(name: name) } : false
            guard removed else { throw CLIError("no budget scope '\(name)'; list them with `wflo budgets`", exitCode: 2) }
            Console.out("Removed budget scope '\(name)'\n")
        }
    }
}
