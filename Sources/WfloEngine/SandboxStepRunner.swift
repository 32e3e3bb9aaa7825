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
        if let stopped = try await passGate(step, details: details, worstCase: nil,
                                            preview: code.map { "Code:\n" + $0 } ?? "Command: " + request.command.joined(separator: " ")) {
            return stopped
        }

        let policy = step.retry ?? .none
        var attempt = firstAttempt
        while true {
            let decision = try await governor.reserve(stepID: step.id, stepType: .sandbox, attempt: attempt, model: nil, worstCase: .zero)
            guard case .reserved(let attemptID) = decision else {
                if case .refused(let message) = decision {
                    return try await recordRefusal(step, message: message, model: nil, worstCase: .zero, at: started)
                }
                continue
            }
            let attemptStart = configuration.now()
            configuration.observer.observe(.stepStarted(stepID: step.id, type: .sandbox, model: nil, attempt: attempt, reserved: .zero))
            let result: SandboxResult
            do {
                result = try await configuration.sandbox.run(request)
            } catch let error as SandboxError {
                let message = error.description
                try await configuration.store.finishAttempt(AttemptFinish(attemptID: attemptID, runID: runID, stepID: step.id, succeeded: false,
                                                                          cost: .zero, usage: nil, error: message, stepStatus: .failed,
                                                                          stepOutput: nil, at: configuration.now()))
                configuration.observer.observe(.stepFailed(stepID: step.id, error: message))
                return .failed(message)
            }
            let output = result.json
            let now = configuration.now()
            let final = attempt >= policy.maximumAttempts || result.killedReason == .cancelled
            // With `allow_failure`, the last failed attempt completes the step with the program's
            // own output (exit code, stdout…) rather than `{failed, error}`; earlier ones are retried.
            if result.succeeded || (step.allowFailure && final) {
                try await configuration.store.finishAttempt(AttemptFinish(attemptID: attemptID, runID: runID, stepID: step.id,
                                                                          succeeded: result.succeeded, cost: .zero, usage: nil,
                                                                          error: result.succeeded ? nil : Self.failureMessage(result),
                                                                          stepStatus: .completed, stepOutput: output, at: now))
                configuration.observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: now.timeIntervalSince(attemptStart)))
                return .completed(output)
            }
            let message = Self.failureMessage(result)
            try await configuration.store.finishAttempt(AttemptFinish(attemptID: attemptID, runID: runID, stepID: step.id, succeeded: false,
                                                                      cost: .zero, usage: nil, error: message, stepStatus: final ? .failed : nil,
                                                                      stepOutput: final ? output : nil, at: now))
            if final {
                let suffix = attempt > 1 ? " (after \(attempt) attempts)" : ""
                configuration.observer.observe(.stepFailed(stepID: step.id, error: message + suffix))
                return .failed(message + suffix)
            }
            // No server asked for a wait, so the policy always answers with its back-off.
            var delay = policy.maximumInterval
            if case .wait(let seconds) = retryWait(policy: policy, attempt: attempt, retryAfter: nil) { delay = seconds }
            try await scheduleRetry(step, attempt: attempt, message: message, delay: delay)
            attempt += 1
        }
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
