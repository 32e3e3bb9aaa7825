import ArgumentParser
import Foundation
import Logging
import WfloApp
import WfloCore
import WfloEngine
import WfloReports
import WfloServer
import WfloTelemetry

/// `wflo server`: the JSON API (and dashboard) over a journal, with worker loops driving its runs.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Serve the /v1 JSON API over the journal and drive its runs, until SIGTERM or SIGINT.",
        discussion: """
            One process is a complete install: --workers loops claim and drive submitted runs, as `wflo worker` \
            does (other workers may share the journal). Every API call carries Authorization: Bearer TOKEN \
            (`wflo tokens create NAME --role read|submit|approve|admin`). On start it prints one line, \
            `listening on http://HOST:PORT` (with the real port when --listen asks for port 0). \
            SIGTERM/SIGINT: no new requests or claims; runs in hand get 30s to finish, then are given back.
            """
    )

    @Option(help: "HOST:PORT to listen on (port 0 picks a free one).")
    var listen: String = "127.0.0.1:8080"

    @Option(help: "Worker loops driving submitted runs in this process (0: none; another `wflo worker` drives them).")
    var workers: Int = 4

    @Option(help: "Where people reach this server (https://wflo.example.com), for links in notifications.")
    var baseURL: String?

    @Option(name: .customLong("workflows-dir"), help: "The only folder POST /v1/runs {\"path\": …} reads workflow files from (symlinks and .. resolved first). Default: the current directory.")
    var workflowsDir: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var pricing: PricingOptions

    func settings() throws -> ServerSettings {
        do {
            let (host, port) = try ServerSettings.listen(listen)
            let settings = ServerSettings(host: host, port: port, workers: workers, baseURL: baseURL, workflowsDirectory: workflowsDir)
            if let problem = settings.problem { throw ValidationError(problem) }
            return settings
        } catch let error as AppError {
            throw ValidationError(error.message)
        }
    }

    func validate() throws { _ = try settings() }

    func run() async throws {
        let settings = try settings()
        try await reportingErrors {
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: pricing, createJournal: true)
            var logger = Logger(label: "wflo.server")
            logger.logLevel = .warning
            do {
                try await WfloServerApp.run(environment: environment, settings: settings, observer: SilentObserver(), logger: logger,
                                            metrics: { Telemetry.current?.prometheusText() ?? "" }) { url in
                    Console.out("listening on \(url)\n")
                }
                try await environment.close()
            } catch {
                try? await environment.close()
                throw error
            }
        }
    }
}

/// `wflo tokens create|list|revoke`: the API's bearer tokens, stored hashed in the journal.
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "API tokens for `wflo server`: create (printed once), list, revoke.",
        discussion: """
            Roles include the ones before them: read (list and read runs, reports, approvals, events, metrics) < \
            submit (also submit, cancel and resume runs) < approve (also decide approvals) < admin. The token's \
            name is recorded as the approver of what it decides ("NAME via api").
            """,
        subcommands: [TokensCreateCommand.self, TokensListCommand.self, TokensRevokeCommand.self]
    )
}

extension TokenRole: ExpressibleByArgument {}

struct TokensCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Make a token and print it once (only its hash is kept).")

    @Argument(help: "The token's name: who it is (alice, ci-bot); recorded as the approver of its decisions.")
    var name: String

    @Option(help: "read, submit, approve or admin.")
    var role: TokenRole

    @Flag(help: "Print {\"name\", \"role\", \"token\"}.")
    var json = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if let problem = APITokenRecord.problem(name: name) { throw ValidationError(problem) }
    }

    func run() async throws {
        let created = try await reportingErrors {
            try await store.withJournal(creating: true) { try await TokenService(store: $0).create(name: name, role: role) }
        }
        if json {
            Console.out(JSONValue.object(["name": .string(created.record.name), "role": .string(created.record.role.rawValue),
                                          "token": .string(created.token)]).encoded(sorted: true) + "\n")
        } else {
            Console.out(created.token + "\n")
            Console.err("token '\(created.record.name)' (\(created.record.role.rawValue)) created; it is shown only this once\n")
        }
    }
}

struct TokensListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every token's name, role and state (never the token).")

    @Flag(help: "Print a JSON array.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let tokens = try await store.withJournal { try await TokenService(store: $0).list() }
            let formatter = ISO8601DateFormatter()
            if json {
                Console.out(JSONValue.array(tokens.map { token in
                    ["name": .string(token.name), "role": .string(token.role.rawValue), "created_at": .string(formatter.string(from: token.createdAt)),
                     "revoked_at": token.revokedAt.map { .string(formatter.string(from: $0)) } ?? .null]
                }).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if tokens.isEmpty {
                Console.out("No tokens. Make one with `wflo tokens create NAME --role read|submit|approve|admin`.\n")
                return
            }
            let rows = tokens.map { [$0.name, $0.role.rawValue, formatter.string(from: $0.createdAt), $0.revokedAt.map { "revoked " + formatter.string(from: $0) } ?? "live"] }
            Console.out(TextTable(header: ["NAME", "ROLE", "CREATED", "STATE"], rows: rows, rightAligned: []).render(separatorBefore: nil))
        }
    }
}

struct TokensRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: it no longer authenticates (its name is not reused).")

    @Argument(help: "The token's name.")
    var name: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            try await store.withJournal { try await TokenService(store: $0).revoke(name: name) }
            Console.out("revoked token '\(name)'\n")
        }
    }
}
