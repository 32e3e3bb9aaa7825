import ArgumentParser

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
        subcommands: [RunCommand.self, ResumeCommand.self, CancelCommand.self, RunsCommand.self, StatusCommand.self, ReportCommand.self,
                      ValidateCommand.self, PricingCommand.self,
                      ApprovalsCommand.self, ApproveCommand.self, RejectCommand.self, CacheCommand.self,
                      CircuitsCommand.self, SandboxCommand.self]
    )

    public init() {}
}
