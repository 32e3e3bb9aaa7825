import Crypto
import Foundation
import WfloCore
import WfloDSL
import WfloEngine

/// Webhook intake (issue 21), the logic behind `POST /hooks/{name}` so the server's route only
/// maps HTTP to it.
///
/// A deployed workflow's `- webhook: {name, secret, inputs}` trigger takes JSON deliveries. When it
/// names a secret, the delivery must carry `X-Wflo-Signature: sha256=<hex HMAC-SHA256 of the raw
/// body with the secret>` (GitHub's scheme), compared in constant time; a missing or bad one is
/// refused (401) and only a counter is journaled. A good delivery enqueues a run whose inputs are
/// the trigger's templates over `{{body.…}}`; the same delivery id (`X-Wflo-Delivery`, or
/// `Idempotency-Key`) returns the same run and writes nothing (the run's idempotency key is unique
/// in the journal).
public struct WebhookService: Sendable {
    public let runs: RunService
    public let secrets: SecretStore
    public var store: any JournalStore { runs.store }

    public init(runs: RunService, secrets: SecretStore) {
        self.runs = runs
        self.secrets = secrets
    }

    /// What a delivery came to, with the HTTP status the route answers.
    public enum Outcome: Sendable, Hashable {
        /// A run was enqueued: 202 `{"run_id"}`.
        case accepted(runID: String)
        /// The delivery id was seen before: its run, 200.
        case duplicate(runID: String)
        /// No signature, or a wrong one: 401, nothing written but the counter.
        case unauthorized(String)
        /// No deployed workflow has a webhook of that name: 404.
        case notFound(String)
        /// The body is not JSON, or its values do not fit the workflow's inputs: 400.
        case invalid(String)

        public var httpStatus: Int {
            switch self {
            case .accepted: 202
            case .duplicate: 200
            case .unauthorized: 401
            case .notFound: 404
            case .invalid: 400
            }
        }
    }

    /// `sha256=` and the lowercase hex HMAC-SHA256 of `body` keyed with `secret`: what a sender puts in `X-Wflo-Signature`.
    public static func signature(body: Data, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Takes one delivery to the webhook `hook`.
    /// - Parameters:
    ///   - signature: the `X-Wflo-Signature` header, if any.
    ///   - deliveryID: `X-Wflo-Delivery` or `Idempotency-Key`, if any.
    /// - Throws: only when the journal cannot be read or written; every refusal is an ``Outcome``.
    public func deliver(hook: String, body: Data, signature: String?, deliveryID: String?, at now: Date = Date()) async throws -> Outcome {
        let triggers = TriggerService(runs: runs)
        guard let (deployment, definition, trigger) = try await triggers.webhook(named: hook) else {
            return .notFound("no deployed workflow has a webhook named '\(hook)'")
        }
        if let secretName = trigger.secretName {
            let secret: String
            do { secret = try secrets.value(secretName) } catch {
                // The server cannot check signatures: refuse, and say so to the operator (not the sender).
                try await store.countRejectedDelivery(hook: hook, at: now)
                return .unauthorized("the webhook's secret '\(secretName)' is not set on this server (WFLO_SECRET_\(secretName) or ~/.wflo/secrets)")
            }
            guard let given = signature?.trimmingCharacters(in: .whitespaces), !given.isEmpty else {
                try await store.countRejectedDelivery(hook: hook, at: now)
                return .unauthorized("missing X-Wflo-Signature: sha256=<hex HMAC-SHA256 of the body>")
            }
            guard Self.constantTimeEqual(Array(given.lowercased().utf8), Array(Self.signature(body: body, secret: secret).utf8)) else {
                try await store.countRejectedDelivery(hook: hook, at: now)
                return .unauthorized("X-Wflo-Signature does not match the body")
            }
        }
        let json: JSONValue
        do {
            json = body.isEmpty ? .object([:]) : try JSONValue.parse(String(decoding: body, as: UTF8.self))
        } catch {
            return .invalid("the body is not JSON: \(error)")
        }
        var given: [String: JSONValue] = [:]
        for (name, value) in trigger.inputs {
            let rendered = value.render { path in json.value(at: path.dropFirst()) ?? .null }
            if rendered != .null { given[name] = rendered }
        }
        let inputs: JSONValue
        do {
            inputs = try InputBinder.bind(definition, arguments: [], file: .object(given))
        } catch {
            return .invalid("the delivery does not give the workflow's inputs: \(error)")
        }
        if let deliveryID, deliveryID.isEmpty || deliveryID.count > 200 {
            return .invalid("the delivery id must be 1-200 characters")
        }
        let runTrigger = RunTrigger(kind: .webhook, at: now, key: hook, delivery: deliveryID)
        let outcome = try await runs.submit(
            RunService.Workflow(definition: definition, source: deployment.source, origin: .file(path: deployment.path)),
            inputs: inputs, budget: definition.budget, idempotencyKey: runTrigger.idempotencyKey, trigger: runTrigger)
        switch outcome {
        case .enqueued(let run): return .accepted(runID: run.id)
        case .existing(let run): return .duplicate(runID: run.id)
        }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
