import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloTesting

/// Webhook intake at the service level (the server's route maps HTTP onto it): signatures,
/// the counter that is all a refused delivery writes, inputs from the body, replayed delivery ids.
struct WebhookServiceTests {
    static let workflow = """
        name: tickets
        budget: 0
        inputs:
          ticket: {type: string}
          priority: {type: integer, default: 3}
        triggers:
          - webhook: {name: new-ticket, secret: "{{secrets.HOOK_SECRET}}", inputs: {ticket: "{{body.id}}", priority: "{{body.meta.priority}}"}}
          - webhook: {name: open, inputs: {ticket: "{{body.id}}"}}
        steps:
          - id: shape
            type: transform
            output: {ticket: "{{inputs.ticket}}"}

        """

    static func withService(_ body: (any JournalStore, WebhookService) async throws -> Void) async throws {
        try await ServiceTests.withJournal { folder, store in
            let file = folder.appendingPathComponent("tickets.yaml")
            try workflow.write(to: file, atomically: true, encoding: .utf8)
            let pricing = try PricingTable(json: [:], source: "empty table")
            let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: [
                "HOME": folder.path, "WFLO_SECRET_HOOK_SECRET": "s3cret",
            ]))
            let runs = environment.runs(observer: SilentObserver())
            _ = try await TriggerService(runs: runs).deploy(file: file.path)
            try await body(store, WebhookService(runs: runs, secrets: environment.secrets))
            try await environment.close()
        }
    }

    @Test func theSignatureIsGitHubsSchemeOverTheRawBody() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!") from GitHub's webhook documentation.
        #expect(WebhookService.signature(body: Data("Hello, World!".utf8), secret: "It's a Secret to Everybody")
            == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }

    @Test func aMissingOrBadSignatureIsRefusedAndOnlyCounted() async throws {
        try await Self.withService { store, hooks in
            let body = Data(#"{"id": "T-1"}"#.utf8)
            let missing = try await hooks.deliver(hook: "new-ticket", body: body, signature: nil, deliveryID: "d1")
            #expect(missing.httpStatus == 401)
            let bad = try await hooks.deliver(hook: "new-ticket", body: body,
                                              signature: WebhookService.signature(body: body, secret: "wrong"), deliveryID: "d1")
            #expect(bad.httpStatus == 401)
            let tampered = try await hooks.deliver(hook: "new-ticket", body: Data(#"{"id": "T-2"}"#.utf8),
                                                   signature: WebhookService.signature(body: body, secret: "s3cret"), deliveryID: "d1")
            #expect(tampered.httpStatus == 401)
            #expect(try await store.rejectedDeliveries(hook: "new-ticket") == 3)
            #expect(try await store.listRuns(limit: 10).isEmpty)
            #expect(try await hooks.deliver(hook: "nope", body: body, signature: nil, deliveryID: nil).httpStatus == 404)
        }
    }

    @Test func aGoodDeliveryStartsOneRunAndItsReplayReturnsIt() async throws {
        try await Self.withService { store, hooks in
            let body = Data(#"{"id": "T-7", "meta": {"priority": 1}}"#.utf8)
            let signature = WebhookService.signature(body: body, secret: "s3cret")
            let first = try await hooks.deliver(hook: "new-ticket", body: body, signature: signature, deliveryID: "delivery-1")
            guard case .accepted(let runID) = first else { Issue.record("not accepted: \(first)"); return }
            #expect(first.httpStatus == 202)
            let run = try #require(try await store.run(id: runID))
            #expect(run.inputs == ["ticket": "T-7", "priority": 1])
            #expect(run.trigger?.kind == .webhook && run.trigger?.key == "new-ticket" && run.trigger?.delivery == "delivery-1")
            #expect(run.trigger?.json["kind"] == "webhook")
            let again = try await hooks.deliver(hook: "new-ticket", body: body, signature: signature, deliveryID: "delivery-1")
            #expect(again == .duplicate(runID: runID) && again.httpStatus == 200)
            #expect(try await store.listRuns(limit: 10).count == 1)
            // Another delivery id is another run; an unsigned hook takes unsigned deliveries.
            #expect(try await hooks.deliver(hook: "new-ticket", body: body, signature: signature, deliveryID: "delivery-2").httpStatus == 202)
            #expect(try await hooks.deliver(hook: "open", body: Data(#"{"id": "T-8"}"#.utf8), signature: nil, deliveryID: nil).httpStatus == 202)
            #expect(try await store.rejectedDeliveries(hook: "new-ticket") == 0)
        }
    }

    @Test func aBodyThatIsNotJSONOrLacksAnInputIsRefused() async throws {
        try await Self.withService { store, hooks in
            #expect(try await hooks.deliver(hook: "open", body: Data("not json".utf8), signature: nil, deliveryID: nil).httpStatus == 400)
            let lacking = try await hooks.deliver(hook: "open", body: Data(#"{"other": 1}"#.utf8), signature: nil, deliveryID: nil)
            #expect(lacking.httpStatus == 400)
            if case .invalid(let message) = lacking { #expect(message.contains("ticket")) }
            #expect(try await store.listRuns(limit: 10).isEmpty)
        }
    }
}
