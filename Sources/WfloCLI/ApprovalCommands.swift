import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloReports
import WfloStore

/// `wflo approvals [--run RUN] [--all] [--json]` and `wflo approvals show ID`.
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals",
        abstract: "List approval requests (pending ones unless --all), or show one.",
        subcommands: [ListApprovals.self, ShowApproval.self],
        defaultSubcommand: ListApprovals.self
    )
}

struct ListApprovals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List approval requests, oldest first.")

    @Option(help: "Only the requests of this run (id or unique prefix).")
    var run: String?

    @Flag(help: "Include decided requests.")
    var all = false

    @Flag(help: "Print a JSON array.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            // No journal yet: nothing waits, and nothing is created by looking.
            var requests: [ApprovalRecord] = []
            if store.exists || run != nil {
                requests = try await store.withJournal { try await ApprovalService(store: $0).list(run: run, includeDecided: all) }
            }
            let now = Date()
            if json {
                Console.out(JSONValue.array(requests.map { ApprovalText.json($0, now: now) }).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if requests.isEmpty {
                Console.out(all ? "No approval requests.\n" : "Nothing is waiting for approval.\n")
                return
            }
            let rows = requests.map { request in
                [request.id, String(request.runID.prefix(8)), request.stepID, request.status.rawValue,
                 ApprovalText.summary(request.message, limit: 48), request.worstCase?.dollars() ?? "—",
                 DurationText.describe((request.decidedAt ?? now).timeIntervalSince(request.requestedAt))]
            }
            let table = TextTable(header: ["ID", "RUN", "STEP", "STATUS", "WHAT", "WORST CASE", "AGE"], rows: rows, rightAligned: [5, 6])
            Console.out(table.render(separatorBefore: nil))
            if !all { Console.out("Decide: wflo approve ID [--comment TEXT] · wflo reject ID --reason TEXT · details: wflo approvals show ID\n") }
        }
    }
}

struct ShowApproval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one request in full: what exactly will run.")

    @Argument(help: "The request id (or a unique prefix), or RUN/STEP.")
    var id: String

    @Flag(help: "Print a JSON object.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let request = try await store.withJournal { try await ApprovalService(store: $0).find(id) }
            if json {
                Console.out(ApprovalText.json(request, now: Date()).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            Console.out(ApprovalText.full(request, now: Date()))
        }
    }
}

/// `wflo approve ID [--comment TEXT] [--as NAME]`.
struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve a waiting step; the run waiting for it continues.",
        discussion: "Exit codes: 0 recorded, 1 already decided (by whom is printed), 2 no such request or not an approver."
    )

    @Argument(help: "The request id (or a unique prefix), or RUN/STEP.")
    var id: String

    @Option(help: "A comment for the record (later steps read it as output.comment).")
    var comment: String?

    @Option(name: .customLong("as"), help: "Decide under this name instead of the operating-system user.")
    var name: String?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            try await ApprovalText.decide(id, verdict: .approve, comment: comment, as: name, store: store)
        }
    }
}

/// `wflo reject ID --reason TEXT [--as NAME]`.
struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject a waiting step; it never runs and its run ends rejected (exit 5).",
        discussion: "Exit codes: 0 recorded, 1 already decided (by whom is printed), 2 no such request or not an approver."
    )

    @Argument(help: "The request id (or a unique prefix), or RUN/STEP.")
    var id: String

    @Option(help: "Why (required; recorded and shown in the report).")
    var reason: String

    @Option(name: .customLong("as"), help: "Decide under this name instead of the operating-system user.")
    var name: String?

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
    }

    func run() async throws {
        try await reportingErrors {
            try await ApprovalText.decide(id, verdict: .reject, comment: reason, as: name, store: store)
        }
    }
}

/// How approval requests look on the terminal and in JSON, and the decide flow shared by
/// `approve` and `reject`.
enum ApprovalText {
    static func decide(_ reference: String, verdict: ApprovalDecision.Verdict, comment: String?, as name: String?,
                       store options: StoreOptions) async throws {
        let who = Approver.name(name)
        let outcome = try await options.withJournal {
            try await ApprovalService(store: $0).decide(reference, verdict: verdict, comment: comment, by: who)
        }
        switch outcome {
        case .recorded(let record):
            Console.out("\(record.status == .approved ? "Approved" : "Rejected") \(record.runID.prefix(8))/\(record.stepID) (request \(record.id)) as \(who).\n")
        case .alreadyDecided(let record):
            throw CLIError("not recorded: \(decidedFirst(record))", exitCode: 1)
        case .notAnApprover(let request, let who):
            throw CLIError("\(who) is not among the approvers of request \(request.id) (\(request.settings.approvers.joined(separator: ", "))); an approver must decide, or pass --as NAME", exitCode: 2)
        }
    }

    static func decidedFirst(_ record: ApprovalRecord) -> String {
        let when = record.decidedAt.map { ISO8601DateFormatter().string(from: $0) } ?? "earlier"
        var text = "request \(record.id) (\(record.runID.prefix(8))/\(record.stepID)) was already \(record.status.rawValue) by \(record.decidedBy ?? "someone") at \(when)"
        if let comment = record.comment { text += " (\(comment))" }
        return text
    }

    static func summary(_ text: String, limit: Int) -> String {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count <= limit ? line : String(line.prefix(limit - 1)) + "…"
    }

    static func json(_ request: ApprovalRecord, now: Date) -> JSONValue {
        let iso = ISO8601DateFormatter()
        var object: [String: JSONValue] = [
            "id": .string(request.id),
            "run_id": .string(request.runID),
            "step_id": .string(request.stepID),
            "status": .string(request.status.rawValue),
            "message": .string(request.message),
            "details": request.details,
            "worst_case_usd": request.worstCase.map { .string($0.exact()) } ?? .null,
            "approvers": .array(request.settings.approvers.map(JSONValue.string)),
            "requested_at": .string(iso.string(from: request.requestedAt)),
            "age_seconds": .int(max(0, Int((request.decidedAt ?? now).timeIntervalSince(request.requestedAt)))),
            "on_timeout": .string(request.settings.onTimeout.rawValue),
        ]
        object["deadline"] = request.deadline.map { .string(iso.string(from: $0)) } ?? .null
        object["decided_by"] = request.decidedBy.map(JSONValue.string) ?? .null
        object["decided_at"] = request.decidedAt.map { .string(iso.string(from: $0)) } ?? .null
        object["comment"] = request.comment.map(JSONValue.string) ?? .null
        return .object(object)
    }

    static func full(_ request: ApprovalRecord, now: Date) -> String {
        let iso = ISO8601DateFormatter()
        var text = "Request \(request.id) · run \(request.runID) · step \(request.stepID) · \(request.status.rawValue)\n"
        text += "Requested \(iso.string(from: request.requestedAt)) (\(DurationText.describe(now.timeIntervalSince(request.requestedAt))) ago)"
        if let deadline = request.deadline { text += " · deadline \(iso.string(from: deadline)), then \(request.settings.onTimeout.rawValue)" }
        text += "\n"
        if !request.settings.approvers.isEmpty { text += "Approvers: \(request.settings.approvers.joined(separator: ", "))\n" }
        if let worstCase = request.worstCase { text += "Worst-case cost: \(worstCase.dollars()) (USD, exact \(worstCase.exact()))\n" }
        text += "\n" + request.message + "\n"
        if case .object(let details) = request.details {
            if let model = details["model"]?.stringValue {
                text += "\nWill call \(details["provider"]?.stringValue ?? "") model \(model), max_tokens \(details["max_tokens"]?.intValue.map(String.init) ?? "?")\n"
            }
            if let reason = details["reason"]?.stringValue { text += "Gated because \(reason)\n" }
            if let system = details["system"]?.stringValue { text += "\n[system]\n" + system + "\n" }
            if case .array(let messages)? = details["messages"] {
                for message in messages {
                    text += "\n[\(message["role"]?.stringValue ?? "?")]\n" + (message["content"]?.stringValue ?? "") + "\n"
                }
            }
        }
        if let by = request.decidedBy {
            text += "\nDecided: \(request.status.rawValue) by \(by)"
            if let at = request.decidedAt { text += " at \(iso.string(from: at))" }
            if let comment = request.comment { text += " — \(comment)" }
            text += "\n"
        } else {
            let ref = "\(request.runID.prefix(8))/\(request.stepID)"
            text += "\nDecide: wflo approve \(ref) [--comment TEXT] · wflo reject \(ref) --reason TEXT\n"
        }
        return text
    }
}
