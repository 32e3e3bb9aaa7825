import Foundation
import Testing
import WfloCore
@testable import WfloDSL

/// `triggers:` and `concurrency:`: read into definitions, every mistake at its line with the field named.
struct TriggerFieldTests {
    static let head = """
        name: triage
        inputs:
          ticket: {type: string}
          customer: {type: string, default: acme}
        steps:
          - id: t
            type: transform
            output: "{{inputs.ticket}}"

        """

    @Test func readsSchedulesWebhooksAndConcurrency() throws {
        let yaml = Self.head + """
            triggers:
              - schedule: {cron: "0 9 * * MON-FRI", tz: Europe/Berlin, inputs: {ticket: daily}, catchup: all}
              - schedule: {every: 30s, inputs: {ticket: tick}}
              - webhook: {name: new-ticket, secret: "{{secrets.HOOK_SECRET}}", inputs: {ticket: "{{body.id}}"}}
            concurrency: {limit: 2, key: "{{inputs.customer}}", on_conflict: skip}
            """
        let definition = try WorkflowParser().parse(yaml: yaml, file: "w.yaml")
        #expect(definition.triggers.count == 3)
        guard case .schedule(let cron) = definition.triggers[0], case .cron(let c) = cron.timing else { Issue.record("not a cron"); return }
        #expect(c.expression == "0 9 * * MON-FRI" && c.timeZone.identifier == "Europe/Berlin")
        #expect(cron.catchup == .all && cron.inputs == .object(["ticket": .string("daily")]))
        guard case .schedule(let every) = definition.triggers[1] else { Issue.record("not a schedule"); return }
        #expect(every.timing == .every(30) && every.catchup == .last)
        guard case .webhook(let hook) = definition.triggers[2] else { Issue.record("not a webhook"); return }
        #expect(hook.name == "new-ticket" && hook.secretName == "HOOK_SECRET")
        #expect(hook.inputs["ticket"] == .template(template("{{body.id}}")))
        #expect(definition.concurrency == ConcurrencySettings(limit: 2, key: template("{{inputs.customer}}"), onConflict: .skip))
    }

    @Test(arguments: [
        ("triggers:\n  - schedule: {cron: \"0 9 * * MON-FRY\", inputs: {ticket: x}}", 10, "'cron': the day of week field 'MON-FRY' is not valid"),
        ("triggers:\n  - schedule: {cron: \"61 9 * * *\", inputs: {ticket: x}}", 10, "the minute field '61'"),
        ("triggers:\n  - schedule: {cron: \"0 9 * *\", inputs: {ticket: x}}", 10, "has 5 fields"),
        ("triggers:\n  - schedule: {cron: \"0 9 * * *\", tz: Mars/Base, inputs: {ticket: x}}", 10, "'Mars/Base' is not an IANA time zone"),
        ("triggers:\n  - schedule: {every: 0.5s, inputs: {ticket: x}}", 10, "at least 1s"),
        ("triggers:\n  - schedule: {every: 30s, inputs: {ticket: x}, catchup: some}", 10, "'catchup' must be none, last or all"),
        ("triggers:\n  - schedule: {every: 30s}", 10, "does not give input 'ticket'"),
        ("triggers:\n  - schedule: {every: 30s, inputs: {tickt: x}}", 10, "does not declare under 'inputs'; did you mean 'ticket'?"),
        ("triggers:\n  - schedule: {every: 30s, cron: \"* * * * *\", inputs: {ticket: x}}", 10, "both 'cron' and 'every'"),
        ("triggers:\n  - schedul: {every: 30s}", 10, "unknown field 'schedul' in a trigger; did you mean 'schedule'?"),
        ("triggers:\n  - webhook: {name: hook, secret: plaintext, inputs: {ticket: x}}", 10, "'secret' must name a secret"),
        ("triggers:\n  - webhook: {name: hook, inputs: {ticket: \"{{inputs.customer}}\"}}", 10, "only the delivery's body"),
        ("triggers:\n  - webhook: {name: \"bad name\", inputs: {ticket: x}}", 10, "webhook name 'bad name'"),
        ("triggers:\n  - webhook: {name: a, inputs: {ticket: x}}\n  - webhook: {name: a, inputs: {ticket: x}}", 11, "webhook name 'a' is used twice"),
        ("concurrency: {limit: 0}", 9, "'limit' must be a positive whole number"),
        ("concurrency: {key: \"{{inputs.nope}}\"}", 9, "declares no input 'nope'"),
        ("concurrency: {on_conflict: wait}", 9, "'on_conflict' must be queue, skip or cancel_running"),
    ])
    func reportsEachMistakeAtItsLine(tail: String, line: Int, phrase: String) {
        let found = diagnostics(Self.head + tail)
        #expect(found.contains { $0.location.line == line && $0.message.contains(phrase) }, "\(found.map(\.description))")
    }
}

/// The shipped example with a schedule and a webhook reads as documented.
struct TriggerExampleTests {
    @Test func theTriggersExampleHasAScheduleAndAWebhook() throws {
        let path = repositoryRoot.appendingPathComponent("Examples/triggers/workflow.yaml").path
        let (definition, _) = try WorkflowParser().parse(fileAt: path)
        guard definition.triggers.count == 2, case .schedule(let schedule) = definition.triggers[0],
              case .webhook(let hook) = definition.triggers[1] else {
            Issue.record("expected a schedule then a webhook, got \(definition.triggers)")
            return
        }
        #expect(schedule.timing.description == "cron 0 9 * * MON-FRI Europe/Berlin" && schedule.catchup == .last)
        #expect(hook.name == "new-ticket" && hook.secretName == "HOOK_SECRET")
        #expect(definition.budget != nil)
        #expect(definition.concurrency?.evaluate(inputs: ["ticket": "T-17"]) == RunConcurrency(key: "T-17", limit: 1, onConflict: .skip))
    }
}
