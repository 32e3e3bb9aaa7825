import Foundation
import Testing
import WfloCore

/// ``ConcurrencyRule`` and the key's evaluation (``ConcurrencySettings/evaluate(inputs:)``): the pure
/// rule every store states.
struct ConcurrencyRuleTests {
    func occupant(_ id: String, slot: Bool = true, status: RunStatus = .running, cancelling: Bool = false) -> ConcurrencyOccupant {
        ConcurrencyOccupant(runID: id, status: status, holdsSlot: slot, cancelRequested: cancelling)
    }

    @Test func theKeyIsTheTemplateOverTheRunsInputsOrEmpty() throws {
        let settings = ConcurrencySettings(limit: 2, key: try Template("{{inputs.customer}}/{{inputs.tier}}"), onConflict: .skip)
        #expect(settings.evaluate(inputs: ["customer": "acme", "tier": 3]) == RunConcurrency(key: "acme/3", limit: 2, onConflict: .skip))
        #expect(settings.evaluate(inputs: ["customer": "acme"]).key == "acme/")
        #expect(ConcurrencySettings(limit: 1, key: nil, onConflict: .queue).evaluate(inputs: ["customer": "acme"]).key == "")
    }

    @Test func aSlotIsHeldFromItsTakingUntilTheRunIsFinal() {
        for status in RunStatus.allCases {
            #expect(ConcurrencyRule.holdsSlot(status: status, slotTaken: true) == !status.isFinal)
            #expect(!ConcurrencyRule.holdsSlot(status: status, slotTaken: false))
        }
        #expect(ConcurrencyRule.holdsSlot(status: .waitingApproval, slotTaken: true))
    }

    @Test func aClaimNeedsRoomUnlessTheRunHasItsSlotOrIsAskedToCancel() {
        let limit2 = RunConcurrency(key: "k", limit: 2, onConflict: .queue)
        #expect(ConcurrencyRule.isClaimable(concurrency: limit2, slotTaken: false, cancelRequested: false, holders: 1))
        #expect(!ConcurrencyRule.isClaimable(concurrency: limit2, slotTaken: false, cancelRequested: false, holders: 2))
        #expect(ConcurrencyRule.isClaimable(concurrency: limit2, slotTaken: true, cancelRequested: false, holders: 2))
        #expect(ConcurrencyRule.isClaimable(concurrency: limit2, slotTaken: false, cancelRequested: true, holders: 2))
        #expect(ConcurrencyRule.isClaimable(concurrency: nil, slotTaken: false, cancelRequested: false, holders: 99))
        #expect(ConcurrencyRule.takesSlot(concurrency: limit2, cancelRequested: false))
        #expect(!ConcurrencyRule.takesSlot(concurrency: limit2, cancelRequested: true))
        #expect(!ConcurrencyRule.takesSlot(concurrency: nil, cancelRequested: false))
    }

    @Test func arrivalAtAFullKeyQueuesSkipsOrCancelsTheOldest() {
        let full = [occupant("a"), occupant("b", slot: false, status: .queued)]
        let queue = RunConcurrency(key: "acme", limit: 2, onConflict: .queue)
        #expect(ConcurrencyRule.arrival(of: queue, runID: "new", workflow: "w", occupants: full) == .admitted(cancel: [], reason: nil))
        var skip = queue
        skip.onConflict = .skip
        #expect(ConcurrencyRule.arrival(of: skip, runID: "new", workflow: "w", occupants: full)
                == .skipped(reason: "skipped: workflow 'w' already has 2 runs with concurrency key 'acme' (limit 2, on_conflict: skip)"))
        // Room left, or only runs already going: admitted.
        #expect(ConcurrencyRule.arrival(of: skip, runID: "new", workflow: "w", occupants: [occupant("a")]) == .admitted(cancel: [], reason: nil))
        #expect(ConcurrencyRule.arrival(of: skip, runID: "new", workflow: "w",
                                        occupants: [occupant("a", cancelling: true), occupant("b")]) == .admitted(cancel: [], reason: nil))
        // The run itself (a process's run, created before its slot) and final runs do not count.
        #expect(ConcurrencyRule.arrival(of: skip, runID: "b", workflow: "w", occupants: full) == .admitted(cancel: [], reason: nil))
        var cancel = queue
        cancel.onConflict = .cancelRunning
        cancel.limit = 1
        let reason = "cancel_running: the newer run new of workflow 'w' with concurrency key 'acme' takes its place (limit 1)"
        #expect(ConcurrencyRule.arrival(of: cancel, runID: "new", workflow: "w", occupants: full) == .admitted(cancel: ["a", "b"], reason: reason))
        #expect(ConcurrencyRule.arrival(of: cancel, runID: "new", workflow: "w", occupants: [occupant("a", cancelling: true), occupant("b")])
                == .admitted(cancel: ["b"], reason: reason))
        var whole = skip
        whole.key = ""
        whole.limit = 1
        #expect(ConcurrencyRule.arrival(of: whole, runID: "new", workflow: "w", occupants: [occupant("a")])
                == .skipped(reason: "skipped: workflow 'w' already has 1 run under its concurrency limit (limit 1, on_conflict: skip)"))
    }
}
