import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloReports

/// `wflo notify` (list), `wflo notify add URL` and `wflo notify rm URL`: the journal's webhooks for approval requests.
struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Webhooks told of every new approval request on this journal (besides each workflow's notify:).",
        discussion: """
            Each new approval request is posted once to each webhook, as JSON with a Slack-compatible `text`, \
            through a durable outbox with retries (delivered by whichever process drives runs: wflo run, resume, \
            worker or server). When `wflo server --base-url URL` has run on the journal, the message carries signed, \
            single-use approve and reject links to that server. A workflow adds its own with `notify: [URL, …]`.
            """,
        subcommands: [NotifyListCommand.self, NotifyAddCommand.self, NotifyRemoveCommand.self],
        defaultSubcommand: NotifyListCommand.self
    )
}

struct NotifyListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The journal's webhooks and the latest notifications.")

    @Flag(help: "Print JSON: {\"hooks\": [...], \"notifications\": [...]}.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let (hooks, notifications) = store.exists
                ? try await store.withJournal { journal in (try await journal.notifyHooks(), try await journal.notifications(approvalID: nil)) }
                : ([], [])
            let recent = Array(notifications.suffix(20))
            if json {
                Console.out(JSONValue.object([
                    // A webhook's path is often its secret (Slack's is): only where it goes is shown.
                    "hooks": .array(hooks.map { .string(AlertWebhook.origin(of: $0) + "/…") }),
                    "notifications": .array(recent.map(Self.json)),
                ]).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if hooks.isEmpty {
                Console.out("No journal webhooks. Add one with: wflo notify add URL\n")
            } else {
                Console.out(hooks.map { "webhook " + AlertWebhook.origin(of: $0) + "/…" }.joined(separator: "\n") + "\n")
            }
            guard !recent.isEmpty else { return }
            let rows = recent.map { notification -> [String] in
                [notification.approvalID, notification.runID, AlertWebhook.origin(of: notification.webhook), Self.state(notification),
                 String(notification.attempts), notification.lastError ?? ""]
            }
            Console.out("\n" + TextTable(header: ["APPROVAL", "RUN", "WEBHOOK", "STATE", "ATTEMPTS", "LAST ERROR"], rows: rows, rightAligned: [4])
                .render(separatorBefore: nil))
        }
    }

    static func state(_ notification: ApprovalNotification) -> String {
        if notification.deliveredAt != nil { return "delivered" }
        if notification.nextAttemptAt == AlertRetryPolicy.neverAgain { return "dead" }
        return notification.attempts == 0 ? "due" : "retrying"
    }

    static func json(_ notification: ApprovalNotification) -> JSONValue {
        [
            "id": .string(notification.id),
            "approval_id": .string(notification.approvalID),
            "run_id": .string(notification.runID),
            "webhook": .string(AlertWebhook.origin(of: notification.webhook) + "/…"),
            "state": .string(state(notification)),
            "attempts": .int(notification.attempts),
            "last_error": notification.lastError.map(JSONValue.string) ?? .null,
            "created_at": .string(notification.createdAt.formatted(.iso8601)),
            "delivered_at": notification.deliveredAt.map { .string($0.formatted(.iso8601)) } ?? .null,
        ]
    }
}

struct NotifyAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Tell a webhook of every new approval request on this journal.")

    @Argument(help: "An http(s) URL (a Slack incoming webhook shows the `text`).")
    var url: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            if let problem = ApprovalNotification.problem(webhook: url) { throw CLIError("wflo notify add: \(problem)", exitCode: 2) }
            let added = try await store.withJournal(creating: true) { try await $0.addNotifyHook(url: url, at: Date()) }
            Console.out(added ? "Added webhook \(AlertWebhook.origin(of: url))/… for approval requests\n"
                              : "Webhook \(AlertWebhook.origin(of: url))/… was already there\n")
        }
    }
}

struct NotifyRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Stop telling a webhook (notifications already written stay).")

    @Argument(help: "The URL as it was added.")
    var url: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let removed = store.exists ? try await store.withJournal { try await $0.removeNotifyHook(url: url) } : false
            guard removed else { throw CLIError("no such webhook on this journal; list them with `wflo notify`", exitCode: 2) }
            Console.out("Removed webhook \(AlertWebhook.origin(of: url))/…\n")
        }
    }
}
