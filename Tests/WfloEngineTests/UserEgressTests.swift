import Foundation
import Testing
import WfloCore
import WfloDSL
@testable import WfloEngine
import WfloTesting

/// The user-level egress policy (`~/.wflo/egress.yaml`, `WFLO_EGRESS`): every workflow's http
/// steps must pass it as well as their own `egress:`; a refusal names the file and makes no connection.
@Suite(.timeLimit(.minutes(1)))
struct UserEgressTests {
    func run(_ h: HTTPHarness, user: String, egress: String = "egress: {allow: [\"127.0.0.1\"]}") async throws -> RunResult {
        let policy = try #require(try EgressFile.parse(yaml: user, file: "/home/ann/.wflo/egress.yaml"))
        let yaml = h.workflow("""
                url: "\(h.base)/anything"
        """, egress: egress)
        let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
        var configuration = h.executor().configuration
        configuration.userEgress = UserEgressPolicy(policy: policy, file: "/home/ann/.wflo/egress.yaml")
        return try await Executor(configuration).start(definition: definition, source: yaml, path: "test.yaml", inputs: [:], budget: .zero)
    }

    @Test func theUsersDenyWinsOverTheWorkflowsAllow() async throws {
        try await HTTPHarness.with { h in
            let result = try await run(h, user: "deny: [\"127.0.0.0/8\"]\n")
            #expect(result.status == .failed)
            #expect(result.error?.contains("host '127.0.0.1' is denied by user egress policy /home/ann/.wflo/egress.yaml rule deny '127.0.0.0/8'") == true,
                    "\(result.error ?? "")")
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func theUsersAllowListRestrictsEveryWorkflow() async throws {
        try await HTTPHarness.with { h in
            let refused = try await run(h, user: "allow: [\"*.example.com\"]\n")
            #expect(refused.status == .failed)
            #expect(refused.error?.contains("not allowed by user egress policy /home/ann/.wflo/egress.yaml rule allow [*.example.com]") == true,
                    "\(refused.error ?? "")")
            #expect(h.service.connectionCount == 0)

            let passed = try await run(h, user: "allow: [\"127.0.0.1\", \"*.example.com\"]\n")
            #expect(passed.status == .completed, "\(passed.error ?? "")")
            #expect(h.service.requests().count == 1)
        }
    }

    @Test func theUserPolicyDoesNotOpenLoopbackTheWorkflowKeepsClosed() async throws {
        try await HTTPHarness.with { h in
            let result = try await run(h, user: "allow: [\"127.0.0.1\"]\n", egress: "")
            #expect(result.status == .failed)
            #expect(result.error?.contains("the default egress rule") == true, "\(result.error ?? "")")
            #expect(h.service.connectionCount == 0)
        }
    }

    @Test func aBadPolicyFileIsReportedAtItsLine() {
        #expect(throws: WorkflowValidationError.self) { try EgressFile.parse(yaml: "allow: [\"https://x.com/\"]\n", file: "e.yaml") }
        do {
            _ = try EgressFile.parse(yaml: "allow: [ok.com]\nblock: [x.com]\n", file: "e.yaml")
            Issue.record("an unknown field was accepted")
        } catch {
            #expect(error.description.hasPrefix("e.yaml:2:1: error: unknown field 'block'"), "\(error.description)")
        }
        let missing = EgressFile.location(environment: ["HOME": "/nowhere"])
        #expect(missing.path == "/nowhere/.wflo/egress.yaml" && !missing.explicit)
        #expect((try? EgressFile.load(environment: ["HOME": "/nowhere"])) == .some(nil))
        #expect(throws: WorkflowValidationError.self) { try EgressFile.load(environment: ["WFLO_EGRESS": "/nowhere/egress.yaml"]) }
    }
}
