import Foundation
import WfloCore
import WfloSandbox

/// Runs `sandbox` steps: render the program and its inputs, gate, run it contained, journal
/// what it did. A program that fails or is killed ends the step `failed` with its output
/// recorded (`completed` with `allow_failure: true`); only a sandbox that cannot start at all
/// (a missing layer, no launcher, no engine) fails the step without output.
extension StepRunner {
    func runSandbox(_ step: StepDefinition, _ definition: SandboxStepDefinition, scope: TemplateScope, firstAttempt: Int) async throws -> StepOutcome {
        let started = configuration.now()
        let request: SandboxRequest
        do {
            request = try Self.sandboxRequest(step, definition, scope: scope)
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, at: started)
        }
        var details: [String: JSONValue] = ["type": "sandbox", "command": .array(request.command.map(JSONValue.string)),
                                            "backend": .string(definition.backend.rawValue),
                                            "network": .string(Self.describe(definition.network))]
        let code = definition.mainFile.flatMap { main in request.files.first { $0.path == main } }.map { String(decoding: $0.contents, as: UTF8.self) }
        if let code { details["code"] = .string(code) }
        let gate = GateRequest(details: details, worstCase: nil,
                               preview: code.map { "Code:\n" + $0 } ?? "Command: " + request.command.joined(separator: " "))
        let policy = step.retry ?? .none
        let span = AttemptSpanInfo(name: "sandbox \(step.id)", isClient: false,
                                   attributes: ["wflo.sandbox.backend": .string(definition.backend.rawValue),
                                                "wflo.sandbox.network": .string(Self.describe(definition.network))])
        let call = AttemptOffer<StepOutcome>(model: nil, worstCase: .zero, span: span) { [self] attempt in
            let result: SandboxResult
            do {
                result = try await configuration.sandbox.run(request)
            } catch let error as SandboxError {
                // The sandbox could not start: no output, not retried.
                return .failed(AttemptFailure(message: error.description, retryable: false))
            }
            let output = result.json
            let cancelled = result.killedReason == .cancelled
            // With `allow_failure`, the last failed attempt completes the step with the program's
            // own output (exit code, stdout…) rather than `{failed, error}`; earlier ones are retried.
            if result.succeeded || (step.allowFailure && (attempt >= policy.maximumAttempts || cancelled)) {
                var charge = AttemptCharge(output: output, succeeded: result.succeeded,
                                           error: result.succeeded ? nil : Self.failureMessage(result))
                charge.spanAttributes = Self.spanAttributes(result)
                return .settled(.completed(output), charge)
            }
            var failure = AttemptFailure(message: Self.failureMessage(result), retryable: !cancelled, output: output,
                                         finalSuffix: attempt > 1 ? " (after \(attempt) attempts)" : "")
            failure.spanAttributes = Self.spanAttributes(result)
            return .failed(failure)
        }
        return try await driver.runStep(step, startedAt: started, gate: gate) {
            // A program killed by the cancel says so in its result, which is journaled as it is.
            .attempts(AttemptPlan(stepID: step.id, stepType: .sandbox, policy: policy, firstAttempt: firstAttempt, paid: false,
                                  offer: call, settlesCancelledCalls: true))
        }
    }

    /// A program's end on its attempt's span: exit code, signal, the limit that stopped it.
    static func spanAttributes(_ result: SandboxResult) -> [String: TelemetryValue] {
        var attributes: [String: TelemetryValue] = ["wflo.sandbox.duration_seconds": .double(result.duration)]
        if let code = result.exitCode { attributes["process.exit.code"] = .int(code) }
        if let signal = result.signal { attributes["wflo.sandbox.signal"] = .int(Int(signal)) }
        if let reason = result.killedReason { attributes["wflo.sandbox.limit_hit"] = .string(reason.rawValue) }
        return attributes
    }

    /// The program, its files, environment and policy, rendered.
    /// - Throws: ``EngineError`` for a missing input or step output in a template.
    static func sandboxRequest(_ step: StepDefinition, _ definition: SandboxStepDefinition, scope: TemplateScope) throws -> SandboxRequest {
        var files: [SandboxFile] = []
        for file in definition.files {
            files.append(SandboxFile(path: file.path, contents: Array(try scope.renderText(file.content).utf8)))
        }
        var command: [String]
        if let language = definition.language, let code = definition.code {
            files.append(SandboxFile(path: language.mainFile, contents: Array(try scope.renderText(code).utf8)))
            command = [language.interpreter, language.mainFile]
        } else {
            command = try (definition.command ?? []).map { try scope.renderText($0) }
        }
        if command.isEmpty || command[0].isEmpty {
            throw EngineError(.configuration, "the sandbox command is empty after rendering its templates")
        }
        var environment: [String: String] = [:]
        for variable in definition.environment { environment[variable.name] = try scope.renderText(variable.value) }
        var limits = definition.limits
        if limits.wall == nil, let timeout = step.timeout { limits.wall = timeout }
        let policy = SandboxPolicy(backend: definition.backend, limits: limits, network: definition.network,
                                   allowMissing: Set(definition.allowMissing))
        let stdin = try definition.stdin.map { Array(try scope.renderText($0).utf8) } ?? []
        return SandboxRequest(command: command, environment: environment, stdin: stdin, files: files, outputs: definition.outputs,
                              policy: policy)
    }

    /// "sandboxed program exited with status 1: ZeroDivisionError: division by zero".
    static func failureMessage(_ result: SandboxResult) -> String {
        var message = "sandboxed program " + result.summary
        let last = result.stderrText.split(separator: "\n").last { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("[wflo:") }
        if let last { message += ": " + String(last.prefix(200)) }
        return message
    }

    static func describe(_ network: SandboxNetwork) -> String {
        switch network {
        case .off: return "off"
        case .any: return "any"
        case .tcp(let connect, let bind):
            return "tcp connect \(connect.map(String.init).joined(separator: ",")) bind \(bind.map(String.init).joined(separator: ","))"
        }
    }
}
