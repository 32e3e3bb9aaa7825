import Foundation
import WfloApp
import WfloCore
import WfloEngine
import WfloStore
import WfloTelemetry
import Logging

extension WfloEnvironment {
    /// The composition root as the command-line options describe it.
    /// - Parameters:
    ///   - cassette: nil for commands that make no call (`wflo cancel`): the network, no cassette.
    ///   - pricing: nil for the shipped table and `WFLO_PRICING` only.
    ///   - createJournal: true for `wflo run` only; other commands refuse a missing journal.
    ///   - appendRecording: a resumed run adds to the cassette its start recorded.
    convenience init(store: StoreOptions, cassette: CassetteOptions?, pricing: PricingOptions?, createJournal: Bool = false,
                     appendRecording: Bool = false) async throws {
        try self.init(store: await store.open(creating: createJournal),
                      settings: Settings(replay: cassette?.replay, record: cassette?.record, appendRecording: appendRecording,
                                         pricingFiles: pricing?.files ?? []))
    }

    /// The run service of `run`/`resume`/`cancel`, its observer watched for `WFLO_FAULT_KILL_AT`.
    func commandRuns(observer: any RunObserver, approvals: ApprovalWaitMode = .wait(pollInterval: 0.2), cache: Bool = true,
                     stepTasks: StepTaskSettings? = nil) -> RunService {
        runs(observer: FaultInjectingObserver.wrap(observer, environment: ProcessInfo.processInfo.environment), approvals: approvals,
             cache: cache, stepTasks: stepTasks)
    }

    /// The observer of `run`/`resume`: progress lines (unless `--json`), approval requests with
    /// the commands to decide them, the interactive prompt, and Ctrl-C while waiting.
    func console(json: Bool, approvals: ApprovalOptions, dbOption: String?, mode: RunMode, logs: LogFormat = .text) -> ApprovalConsole {
        let printer: (any RunObserver)? = switch logs {
        case .json: LogObserver(logger: Logger(label: "wflo.run") { JSONLogHandler(label: $0) })
        case .text: json ? nil : ConsoleObserver()
        }
        let console = ApprovalConsole(approvals: self.approvals, dbOption: dbOption, mode: mode, interactive: approvals.interactive,
                                      printer: printer)
        console.installInterruptHandlers()
        return console
    }
}

extension AppError {
    /// The documented exit code of a refusal: 1 for a decision that lost or a driver that did not
    /// stop in time, 2 for everything the user can correct (usage, unknown ids, configuration).
    var exitCode: Int32 {
        switch code {
        case .alreadyDecided, .stillRunning: 1
        default: 2
        }
    }
}
