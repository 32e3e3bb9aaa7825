import ArgumentParser
import Foundation
import Synchronization
import WfloApp
import WfloCore
import WfloEngine
import WfloStore

/// `--no-wait` and `--interactive`, shared by `run` and `resume`.
struct ApprovalOptions: ParsableArguments {
    @Flag(help: "Do not wait at an approval gate: leave the run waiting_approval and exit 4; `wflo resume` continues it.")
    var noWait = false

    @Flag(help: "Ask at the terminal when a step needs approval (approve? [y/N/comment]); stdin must be a terminal.")
    var interactive = false

    func validate() throws {
        if noWait && interactive { throw ValidationError("--no-wait and --interactive cannot be used together") }
        if interactive && isatty(STDIN_FILENO) == 0 {
            throw ValidationError("--interactive asks at the terminal, but standard input is not a terminal; decide with `wflo approve` instead")
        }
    }

    var waitMode: ApprovalWaitMode { noWait ? .noWait : .wait(pollInterval: 0.2) }
}

/// `--no-cache`, shared by `run` and `resume`.
struct CacheOptions: ParsableArguments {
    @Flag(help: "Neither read nor fill the LLM response cache in this run.")
    var noCache = false
}

/// The name a decision is recorded under: `--as NAME`, else the operating-system user.
enum Approver {
    static func name(_ override: String?) -> String {
        if let override, !override.trimmingCharacters(in: .whitespaces).isEmpty { return override }
        let user = ProcessInfo.processInfo.userName
        if !user.isEmpty { return user }
        return ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    }
}

/// What a waiting run shows and does at the terminal: the request and the exact commands to
/// decide it; with `--interactive`, a prompt that records the answer like `wflo approve` would;
/// on Ctrl-C while waiting, the run is left `waiting_approval` and the process exits 4.
final class ApprovalConsole: RunObserver, Sendable {
    private struct State {
        var runID: String?
        var pending: [ApprovalRecord] = []
        var prompting = false
    }

    private let state = Mutex(State())
    private let approvals: ApprovalService
    /// ` --db PATH` when the journal is not the default one, so printed commands work as shown.
    private let dbHint: String
    private let interactive: Bool
    private let printer: (any RunObserver)?

    /// `--db` and the run's mode, for `wflo resume RUN…` hints.
    private let resumeHint: String

    init(approvals: ApprovalService, dbOption: String?, mode: RunMode, interactive: Bool, printer: (any RunObserver)?) {
        self.approvals = approvals
        self.dbHint = dbOption.map { " --db " + ShellQuote.word($0) } ?? ""
        self.resumeHint = dbHint + mode.arguments
        self.interactive = interactive
        self.printer = printer
    }

    func observe(_ progress: RunProgress) {
        printer?.observe(progress)
        switch progress {
        case .runStarted(let runID, _, _), .runResumed(let runID, _, _):
            state.withLock { $0.runID = runID }
        case .approvalWaiting(let request):
            state.withLock { $0.pending.append(request) }
            if printer is ConsoleObserver { show(request) }
            if interactive { startPrompting() }
        case .approvalDecided(let request):
            state.withLock { $0.pending.removeAll { $0.id == request.id } }
        default:
            break
        }
    }

    private func show(_ request: ApprovalRecord) {
        let ref = "\(request.runID.prefix(8))/\(request.stepID)"
        var text = "  ⏸ \(request.stepID)  waits for approval (request \(request.id)"
        if let worstCase = request.worstCase { text += ", worst case \(worstCase.dollars())" }
        if let deadline = request.deadline {
            text += ", \(request.settings.onTimeout.rawValue) at \(ISO8601DateFormatter().string(from: deadline))"
        }
        text += ")\n"
        text += Self.indent(request.message, by: "     ") + "\n"
        if !request.settings.approvers.isEmpty { text += "     approvers: \(request.settings.approvers.joined(separator: ", "))\n" }
        text += "     details:  wflo approvals show \(ref)\(dbHint)\n"
        text += "     approve:  wflo approve \(ref)\(dbHint) [--comment TEXT]\n"
        text += "     reject:   wflo reject \(ref)\(dbHint) --reason TEXT\n"
        Console.err(text)
    }

    static func indent(_ text: String, by prefix: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n")
    }

    // MARK: Ctrl-C

    /// Installs handlers for SIGINT and SIGTERM. While a step waits for a decision, the run is
    /// left `waiting_approval` (the request stays in the journal) and the process exits 4;
    /// otherwise it exits 130 and `wflo resume` continues the run from its journal.
    func installInterruptHandlers() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in self.interrupted() }
            source.resume()
            Self.sources.append(source)
        }
    }

    /// Keeps the signal sources alive for the life of the process. Written only while a command
    /// starts, before any run task exists.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    private func interrupted() {
        let (runID, pending) = state.withLock { ($0.runID, $0.pending) }
        guard let runID else { exit(130) }
        if !pending.isEmpty {
            let steps = pending.map { "'\($0.stepID)'" }.joined(separator: ", ")
            let message = "waiting for approval: \(steps); decide with `wflo approve` or `wflo reject`, then `wflo resume \(runID)`"
            let done = DispatchSemaphore(value: 0)
            Task.detached { [approvals] in
                try? await approvals.leaveWaiting(runID: runID, message: message)
                done.signal()
            }
            done.wait()
            Console.err("\nInterrupted: run \(runID) is waiting_approval (\(steps)).\n  Decide with wflo approve / wflo reject\(dbHint), then: wflo resume \(runID.prefix(8))\(resumeHint)\n")
            exit(RunStatus.waitingApproval.exitCode)
        }
        Console.err("\nInterrupted: run \(runID) stopped; its journal is intact. Continue with: wflo resume \(runID.prefix(8))\(resumeHint)\n")
        exit(130)
    }

    // MARK: --interactive

    private func startPrompting() {
        let start = state.withLock { state -> Bool in
            if state.prompting { return false }
            state.prompting = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in self.promptLoop() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Asks about the oldest pending request until none is left. An answer to a request that
    /// was decided elsewhere meanwhile is refused by the journal, and said so.
    private func promptLoop() {
        let who = Approver.name(nil)
        while true {
            guard let request = state.withLock({ state -> ApprovalRecord? in
                if let first = state.pending.first { return first }
                state.prompting = false
                return nil
            }) else { return }
            Console.err("  approve \(request.stepID)? [y/N/comment] ")
            guard let line = readLine(strippingNewline: true) else {
                state.withLock { $0.prompting = false }
                return
            }
            guard let answer = PromptAnswer(line) else {
                Console.err("  answer y or n, optionally followed by a comment (y ship it · n too long)\n")
                continue
            }
            let verdict: ApprovalDecision.Verdict = answer.approve ? .approve : .reject
            let comment = answer.comment ?? (answer.approve ? nil : "rejected at the terminal prompt")
            let done = DispatchSemaphore(value: 0)
            let outcome = Mutex<Result<ApprovalService.Outcome, any Error>?>(nil)
            Task.detached { [approvals] in
                let result = await Result(catching: { try await approvals.decide(request, verdict: verdict, comment: comment, by: who) })
                outcome.withLock { $0 = result }
                done.signal()
            }
            done.wait()
            switch outcome.withLock({ $0 }) {
            case .success(.recorded(let record))?:
                Console.err("  \(record.status.rawValue) by \(who)\n")
            case .success(.alreadyDecided(let record))?:
                Console.err("  not recorded: \(ApprovalText.decidedFirst(record))\n")
            case .success(.notAnApprover(let request, _))?:
                Console.err("  you (\(who)) are not among the approvers (\(request.settings.approvers.joined(separator: ", "))); an approver must decide with wflo approve\n")
            case .failure(let error)?:
                Console.err("  not recorded: \(error)\n")
            case nil:
                break
            }
            state.withLock { $0.pending.removeAll { $0.id == request.id } }
        }
    }
}

/// An answer at the `approve? [y/N/comment]` prompt: `y`, `n` or nothing (no), each
/// optionally followed by a comment (`y ship it`, `n: too long`).
struct PromptAnswer: Equatable {
    var approve: Bool
    var comment: String?

    init?(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty {
            approve = false
            comment = nil
            return
        }
        let lower = trimmed.lowercased()
        for (word, verdict) in [("yes", true), ("no", false), ("y", true), ("n", false)] where lower.hasPrefix(word) {
            let rest = trimmed.dropFirst(word.count)
            guard rest.isEmpty || rest.first == " " || rest.first == ":" || rest.first == "," else { continue }
            let text = rest.drop { $0 == " " || $0 == ":" || $0 == "," }.trimmingCharacters(in: .whitespaces)
            approve = verdict
            comment = text.isEmpty ? nil : text
            return
        }
        return nil
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Shell-safe text for commands printed for people to copy.
enum ShellQuote {
    static func word(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-:=+@%".unicodeScalars.contains($0) }
        return safe && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
