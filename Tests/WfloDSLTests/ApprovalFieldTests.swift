import Testing
import WfloCore
import WfloDSL

@Suite struct ApprovalFieldTests {
    func parse(_ yaml: String) throws -> WorkflowDefinition {
        try WorkflowParser().parse(yaml: yaml, file: "w.yaml")
    }

    func problems(_ yaml: String) -> [String] {
        diagnostics(yaml).map(\.description)
    }

    @Test func theIssuesContractParses() throws {
        let definition = try parse("""
            name: w
            steps:
              - id: draft
                type: transform
                output: "hello"
              - id: review
                type: approval
                depends_on: [draft]
                message: "Publish this? {{steps.draft.output}}"
                timeout: 1h
                on_timeout: reject
              - id: publish
                type: transform
                depends_on: [review]
                approval: required
                output: "{{steps.review.output.approved}}"
            """)
        guard case .approval(let review)? = definition.step("review")?.kind else {
            Issue.record("review is not an approval step")
            return
        }
        #expect(review.settings == ApprovalSettings(approvers: [], timeout: 3600, onTimeout: .reject))
        #expect(review.message.references.contains(["steps", "draft", "output"]))
        #expect(definition.step("publish")?.approval == ApprovalSettings())
        #expect(definition.step("publish")?.allDependencies == ["review"])
    }

    @Test func gatesPoliciesAndRiskAreRead() throws {
        let definition = try parse("""
            name: w
            approval_policy:
              cost_above: "0.05"
              risk_high: false
              approvers: [alice, bob]
              timeout: 30m
              on_timeout: fail
            steps:
              - id: a
                type: transform
                risk: high
                approval: {approvers: carol, timeout: 90s, on_timeout: approve}
                output: 1
            """)
        #expect(definition.approvalPolicy == ApprovalPolicy(costAbove: Money(string: "0.05"), riskHigh: false,
                                                            settings: ApprovalSettings(approvers: ["alice", "bob"], timeout: 1800, onTimeout: .fail)))
        #expect(definition.step("a")?.risk == .high)
        #expect(definition.step("a")?.approval == ApprovalSettings(approvers: ["carol"], timeout: 90, onTimeout: .approve))
    }

    @Test func thePolicyGatesByRiskAndWorstCase() {
        let policy = ApprovalPolicy(costAbove: Money(string: "0.01"))
        #expect(policy.reason(risk: .high, worstCase: nil) != nil)
        #expect(policy.reason(risk: .low, worstCase: Money(string: "0.01")) == nil)
        #expect(policy.reason(risk: nil, worstCase: Money(string: "0.010001")) != nil)
        #expect(ApprovalPolicy(riskHigh: false).reason(risk: .high, worstCase: nil) == nil)
    }

    @Test func mistakesAreReportedWhereTheyAre() {
        #expect(problems("""
            name: w
            steps:
              - id: a
                type: approval
                timeout: 1h
            """) == ["w.yaml:3:5: error: step 'a' is missing the required field 'message' (what the approver reads, e.g. \"Publish this? {{steps.draft.output.text}}\")"])
        #expect(problems("""
            name: w
            steps:
              - id: a
                type: approval
                message: hi
                on_timeout: reject
            """) == ["w.yaml:6:5: error: step 'a': 'on_timeout' has no effect without 'timeout' (e.g. timeout: 1h)"])
        #expect(problems("""
            name: w
            steps:
              - id: a
                type: approval
                message: hi
                timeout: 1h
                on_timeout: rejekt
            """) == ["w.yaml:7:17: error: step 'a': 'on_timeout' must be one of reject, approve, fail, not 'rejekt'; did you mean 'reject'?"])
        #expect(problems("""
            name: w
            steps:
              - id: a
                type: transform
                approval: yes please
                output: 1
            """) == ["w.yaml:5:15: error: step 'a': 'approval' must be `required` or a mapping of approvers, timeout, on_timeout, not 'yes please'"])
        #expect(problems("""
            name: w
            steps:
              - id: a
                type: transform
                risk: hihg
                output: 1
            """) == ["w.yaml:5:11: error: step 'a': unknown risk 'hihg'; the allowed values are low, medium, high; did you mean 'high'?"])
        #expect(problems("""
            name: w
            approval_policy: {cost_above: lots}
            steps:
              - id: a
                type: transform
                message: hi
                output: 1
            """) == ["w.yaml:2:31: error: 'approval_policy': 'cost_above' must be an amount in USD such as 0.05, not 'lots'",
                     "w.yaml:6:5: error: step 'a': 'message' is a field of approval steps, not of transform steps"])
        #expect(problems("""
            name: w
            steps:
              - id: a
                type: approval
                message: hi
                approvers: []
            """) == ["w.yaml:6:16: error: step 'a': 'approvers' must list at least one name, with no empty names (leave it out to let anyone decide)"])
    }

    // MARK: notify (issue 18)

    @Test func notifyTakesOneURLOrAList() throws {
        let one = try parse("name: w\nnotify: https://hooks.slack.com/services/T/B/x\nsteps:\n  - id: a\n    type: transform\n    output: 1\n")
        #expect(one.notify == ["https://hooks.slack.com/services/T/B/x"])
        let two = try parse("name: w\nnotify: [\"https://a.example/h\", \"http://127.0.0.1:9000/h\"]\nsteps:\n  - id: a\n    type: transform\n    output: 1\n")
        #expect(two.notify == ["https://a.example/h", "http://127.0.0.1:9000/h"])
        #expect(try parse("name: w\nsteps:\n  - id: a\n    type: transform\n    output: 1\n").notify.isEmpty)
    }

    @Test func aBadNotifyNamesTheLineAndWhatToDo() {
        #expect(problems("name: w\nnotify: slack\nsteps:\n  - id: a\n    type: transform\n    output: 1\n")
            == ["w.yaml:2:9: error: 'notify': 'slack' is not an http(s) URL (e.g. https://hooks.slack.com/services/…)"])
        #expect(problems("name: w\nnotify:\n  - \"{{secrets.SLACK}}\"\nsteps:\n  - id: a\n    type: transform\n    output: 1\n")
            == ["w.yaml:3:5: error: 'notify' takes literal URLs; keep a secret webhook out of the file with `wflo notify add URL` (every run on the journal uses it)"])
        #expect(problems("name: w\nnotify: {url: x}\nsteps:\n  - id: a\n    type: transform\n    output: 1\n")
            == ["w.yaml:2:9: error: 'notify' must be a webhook URL or a list of them (https://hooks.slack.com/services/…)"])
    }
}
