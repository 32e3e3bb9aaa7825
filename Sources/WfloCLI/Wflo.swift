import ArgumentParser
import Foundation
import WfloPricing

/// The `wflo` command: run AI-agent workflows durably under a budget.
public struct Wflo: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "wflo",
        abstract: "Run AI-agent workflows durably, under a hard budget.",
        discussion: """
            Exit codes: 0 completed, 1 failed, 2 invalid usage or workflow, 3 budget exceeded,
            4 waiting for approval, 5 rejected or cancelled.
            Environment: WFLO_DB (journal), WFLO_PRICING (extra pricing files, colon-separated),
            OPENAI_BASE_URL / OPENAI_API_KEY, ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY,
            WFLO_SECRET_<NAME> ({{secrets.NAME}} in http steps; also ~/.wflo/secrets, mode 0600).
            """,
        version: Wflo.version,
        subcommands: [RunCommand.self, ResumeCommand.self, CancelCommand.self, RunsCommand.self, StatusCommand.self, ReportCommand.self,
                      SubmitCommand.self, WorkerCommand.self, QueueCommand.self,
                      ValidateCommand.self, PricingCommand.self,
                      ApprovalsCommand.self, ApproveCommand.self, RejectCommand.self, CacheCommand.self,
                      CircuitsCommand.self, BudgetsCommand.self, AlertsCommand.self, NotifyCommand.self, RetryCommand.self, ForkCommand.self,
                      GCCommand.self, SandboxCommand.self, ServerCommand.self, TokensCommand.self]
    )

    /// This build's version (`wflo --version` adds where the pricing table comes from).
    public static let version = "0.1.0"

    public init() {}

    /// Parses the command line and runs the command. Every usage error (an unknown
    /// subcommand, a missing argument, a bad option value, a failed `validate()`) exits 2, as
    /// the help says, instead of the argument parser's 64.
    public static func runMain(arguments: [String]? = nil) async {
        if (arguments ?? Array(CommandLine.arguments.dropFirst())) == ["--version"] {
            let pricing = PricingTable.shippedTableOrigin(environment: ProcessInfo.processInfo.environment)
            Console.out("wflo \(version)\npricing: \(pricing)\n")
            return
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // An ExitCode thrown by a command (e.g. `wflo sandbox run` passing on its child's
            // code) is kept as it is; only the parser's usage failures are renumbered.
            if !(error is ExitCode), exitCode(for: error) == .validationFailure {
                Console.err(fullMessage(for: error) + "\n")
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
