// A support ticket triaged by a durable Swift function: a model call, a step computed in Swift,
// an approval for refunds, one reply per label drafted in parallel, a durable cool-down. Run it
// twice with the same --run-id and the second run resumes the first instead of running it again.
//
//   swift run wflo-durable-example --run-id t-42                  # offline, from ./cassette.json
//   swift run wflo-durable-example --run-id t-43 --ticket refund  # waits for: wflo approve t-43/refund-ok
//
// The journal is WFLO_DB's (SQLite path or postgres:// URL), else ~/.wflo/wflo.db: `wflo runs`,
// `wflo status` and `wflo report` show the run. With OPENAI_BASE_URL set, calls go to that server
// (OPENAI_API_KEY) instead of the cassette. Options: --ticket question|refund, --cool-down SECONDS,
// --max-parallel N, --budget USD, --record CASSETTE.
// WFLO_EXAMPLE_COUNT_FILE (tests): each run of a step's closure appends its step id to that file.
import Foundation
import WfloCore
import WfloKit

struct Ticket: Codable, Sendable {
    var customer: String
    var body: String
}

struct Triage: Codable, Sendable, Equatable {
    var summary: String
    var labels: [String]
    var refundApproved: Bool
    var replies: [String]
    var note: String
}

/// Labels from keywords: plain Swift, run once per run as the `classify` step.
func classify(_ text: String) -> [String] {
    let lower = text.lowercased()
    var labels: Set<String> = []
    if lower.contains("refund") { labels.insert("refund") }
    if lower.contains("charged") || lower.contains("invoice") { labels.insert("billing") }
    if lower.contains("account") || lower.contains("email") { labels.insert("account") }
    if lower.contains("?") { labels.insert("question") }
    return labels.isEmpty ? ["general"] : labels.sorted()
}

/// Counts runs of step closures for the crash tests (WFLO_EXAMPLE_COUNT_FILE).
func mark(_ step: String) {
    guard let path = ProcessInfo.processInfo.environment["WFLO_EXAMPLE_COUNT_FILE"], !path.isEmpty else { return }
    if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    if let handle = FileHandle(forWritingAtPath: path) {
        handle.seekToEndOfFile()
        handle.write(Data((step + "\n").utf8))
        try? handle.close()
    }
}

struct Settings {
    var runID = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))
    var ticket = "question"
    var coolDown = 1.0
    var maxParallel = 2
    var budget: Money?
    var record: String?

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ option: String) throws -> String {
            guard let next = rest.popFirst() else { throw WorkflowError("\(option) needs a value") }
            return next
        }
        while let option = rest.popFirst() {
            switch option {
            case "--run-id": runID = try value(option)
            case "--ticket":
                ticket = try value(option)
                guard Self.tickets[ticket] != nil else { throw WorkflowError("--ticket: '\(ticket)' is not one of question, refund") }
            case "--cool-down":
                let text = try value(option)
                guard let seconds = Double(text), seconds >= 0 else { throw WorkflowError("--cool-down: '\(text)' is not a number of seconds") }
                coolDown = seconds
            case "--max-parallel":
                let text = try value(option)
                guard let n = Int(text), n >= 1 else { throw WorkflowError("--max-parallel: '\(text)' is not a whole number of at least 1") }
                maxParallel = n
            case "--budget":
                let text = try value(option)
                guard let money = Money(string: text), !money.isNegative else { throw WorkflowError("--budget: '\(text)' is not an amount of dollars") }
                budget = money
            case "--record": record = try value(option)
            default: throw WorkflowError("unknown option '\(option)'; options: --run-id ID, --ticket question|refund, --cool-down SECONDS, --max-parallel N, --budget USD, --record CASSETTE")
            }
        }
    }

    static let tickets: [String: Ticket] = [
        "question": Ticket(customer: "Ada Byron", body: "I cannot find where to change the email on my account. Can you help?"),
        "refund": Ticket(customer: "Grace Hopper", body: "I was charged twice for my March invoice and want a refund of the second charge."),
    ]
}

let settings: Settings
do {
    settings = try Settings(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(2)
}

let coolDown = settings.coolDown
let maxParallel = settings.maxParallel
let triage = DurableWorkflow("triage", budget: "0.50") { (ctx: DurableContext, ticket: Ticket) -> Triage in
    let summary = try await ctx.llm("summarize", model: "gpt-4o-mini",
                                    prompt: "Summarize this support ticket in one sentence: \(ticket.body)", maxTokens: 200)
    let labels: [String] = try await ctx.step("classify") {
        mark("classify")
        return classify(ticket.body)
    }
    let approved = labels.contains("refund")
    if approved {
        try await ctx.approval("refund-ok", message: "Refund \(ticket.customer)? \(summary.text)")
    }
    let replies = try await ctx.forEach("reply", labels, maxParallel: maxParallel) { child, label in
        try await child.llm("draft", model: "gpt-4o-mini",
                            prompt: "Draft a two-sentence reply about \(label) to this ticket: \(ticket.body)", maxTokens: 150).text
    }
    try await ctx.sleep("cool-down", for: .milliseconds(Int64(coolDown * 1000)))
    let note: String = try await ctx.step("compose") {
        mark("compose")
        return "\(labels.count) label(s), \(replies.count) repl\(replies.count == 1 ? "y" : "ies")" + (approved ? ", refund approved" : "")
    }
    return Triage(summary: summary.text, labels: labels, refundApproved: approved, replies: replies, note: note)
}

let environment = ProcessInfo.processInfo.environment
let live = environment["OPENAI_BASE_URL"].map { !$0.isEmpty } ?? false
let cassette = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("cassette.json").path
do {
    let runtime = try await WfloRuntime.open(replay: live ? nil : cassette, record: settings.record)
    let result: DurableResult<Triage>
    do {
        result = try await runtime.run(triage, input: Settings.tickets[settings.ticket]!, runID: settings.runID, budget: settings.budget,
                                       program: "wflo-durable-example")
    } catch {
        try? await runtime.shutdown()
        throw error
    }
    try await runtime.shutdown()
    print("run \(result.runID) \(result.status.rawValue) · spent \(result.ledger.committed.dollars()) of \(result.ledger.budget?.dollars() ?? "-")")
    if let output = result.output {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(output), as: UTF8.self))
    } else if let error = result.error {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    }
    exit(result.status.exitCode)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
