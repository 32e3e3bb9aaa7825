import Testing
import WfloCore
import WfloDSL

/// `notify:`: the webhooks `wflo server` tells about each approval request of a run.
@Suite struct NotifyFieldTests {
    static let steps = "steps:\n  - id: gate\n    type: approval\n    message: ok?\n"

    @Test func oneURLOrAListIsRead() throws {
        let one = try WorkflowParser().parse(yaml: "name: w\nnotify: https://hooks.slack.com/services/T/B/X\n" + Self.steps, file: "w.yaml")
        #expect(one.notify == ["https://hooks.slack.com/services/T/B/X"])
        let two = try WorkflowParser().parse(yaml: "name: w\nnotify: [\"http://127.0.0.1:9/a\", \"https://x.example/b\"]\n" + Self.steps, file: "w.yaml")
        #expect(two.notify == ["http://127.0.0.1:9/a", "https://x.example/b"])
        #expect(try WorkflowParser().parse(yaml: "name: w\n" + Self.steps, file: "w.yaml").notify == nil)
    }

    @Test func aURLThatIsNotAWebhookIsAnErrorWithItsLine() {
        let problems = diagnostics("name: w\nnotify: [\"ftp://x/y\", \"slack\"]\n" + Self.steps).map(\.description)
        #expect(problems.count == 2)
        #expect(problems.allSatisfy { $0.hasPrefix("w.yaml:2:") && $0.contains("must be an http:// or https:// URL") }, "\(problems)")
    }
}
