import Foundation
import Testing
import WfloCore
import WfloTesting

/// The dashboard in a real browser: `wflo server` started as people start it, headless Chromium
/// (Debian's `chromium` and `chromium-driver`) driven by selenium (a venv built by
/// scripts/python-venv.sh) logs in, opens a waiting run, clicks Approve and sees it complete; keeps a
/// second run's page open while it is approved through the API and sees it turn completed without a
/// reload (the live-update script); retries a failed run from the Failed page.
/// Screenshots of the inbox and the run page are kept in `.build/test-artifacts/browser/`.
///
/// Needs chromium, chromium-driver and python3-venv (scripts/test.sh installs them). Where they are
/// missing the test is skipped, saying so — except in CI (`CI` set), where it fails.
@Suite(.timeLimit(.minutes(10)))
struct BrowserTests {
    static let chromedriver = ProcessInfo.processInfo.environment["WFLO_CHROMEDRIVER"] ?? "/usr/bin/chromedriver"
    static let chromium = ProcessInfo.processInfo.environment["WFLO_CHROMIUM"] ?? "/usr/bin/chromium"
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" } ?? false }
    static var browserPresent: Bool {
        FileManager.default.isExecutableFile(atPath: chromedriver) && FileManager.default.isExecutableFile(atPath: chromium)
    }
    static var artifacts: URL { WfloProcess.repositoryRoot.appendingPathComponent(".build/test-artifacts/browser") }

    /// The venv with selenium, built once by scripts/python-venv.sh.
    static func seleniumPython() async throws -> String {
        let folder = WfloProcess.repositoryRoot.appendingPathComponent(".build/venv-selenium").path
        let build = try SpawnedProcess(executable: "/bin/bash", arguments: ["scripts/python-venv.sh", folder, "selenium==4.27.1"],
                                       environment: ProcessInfo.processInfo.environment, directory: WfloProcess.repositoryRoot.path)
        let ended = await build.finish()
        try #require(ended.status == 0, "scripts/python-venv.sh failed: \(ended.stderr)")
        return folder + "/bin/python"
    }

    @Test(.enabled(if: browserPresent || inCI, "chromium or chromium-driver is not installed: the browser test is skipped (scripts/test.sh installs them; CI fails without them)"))
    func loggingInAndClickingApproveCompletesTheRun() async throws {
        try #require(Self.browserPresent, "CI needs \(Self.chromium) and \(Self.chromedriver) (Debian's chromium and chromium-driver)")
        let python = try await Self.seleniumPython()
        try await CLITests.withServer { llm, wflo, directory in
            let alice = try await wflo.run(["tokens", "create", "alice", "--role", "approve"])
            let token = alice.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // The server reads `path` workflows from the repository root (its --workflows-dir).
            let (server, base, log) = try await ServerCLITests.startServer(wflo, in: directory, ["--workflows-dir", WfloProcess.repositoryRoot.path])
            defer { server.send(SIGKILL) }
            /// Waits until the run's status is `wanted`.
            func reach(_ runID: String, _ wanted: String) async throws {
                let clock = ContinuousClock()
                let start = clock.now
                var status = ""
                while clock.now - start < .seconds(60) && status != wanted {
                    status = try await ServerCLITests.call(.GET, base + "/v1/runs/\(runID)", token: token).json["status"]?.stringValue ?? ""
                    try await Task.sleep(for: .milliseconds(100))
                }
                try #require(status == wanted, "run \(runID) is \(status), not \(wanted)")
            }
            // The offline publish example, with money on it (the fake LLM server's usage): one run approved by
            // clicking, one approved through the API while its page is open.
            var runs: [String] = []
            for _ in 0..<2 {
                let submitted = try await ServerCLITests.call(.POST, base + "/v1/runs", token: token, body: ["path": "Examples/publish/workflow.yaml"])
                runs.append(try #require(submitted.json["run_id"]?.stringValue, "\(submitted.json)"))
            }
            // A dead letter for the Failed page: the provider refuses its call once.
            llm.on(promptContaining: "Summarize the incident", .error(status: 400, body: #"{"error": {"message": "context too long"}}"#), times: 1)
            let failing = """
                name: incident-summary
                budget: 0.05
                steps:
                  - id: summarize
                    type: llm
                    model: gpt-4o-mini
                    prompt: "Summarize the incident"
                    max_tokens: 80
                """
            let failed = try await ServerCLITests.call(.POST, base + "/v1/runs", token: token, body: ["workflow": .string(failing)])
            let failedID = try #require(failed.json["run_id"]?.stringValue)
            for run in runs { try await reach(run, "waiting_approval") }
            try await reach(failedID, "failed")
            let runID = runs[0]

            try? FileManager.default.removeItem(at: Self.artifacts)
            let script = WfloProcess.repositoryRoot.appendingPathComponent("Tests/WfloCLITests/Browser/dashboard_flow.py").path
            var environment = ProcessInfo.processInfo.environment
            environment["HOME"] = directory.path
            let browser = try SpawnedProcess(executable: python, arguments: [script, base, token, runID, Self.artifacts.path, runs[1], failedID],
                                             environment: environment)
            let ended = await browser.finish()
            #expect(ended.status == 0, "the browser flow failed: \(ended.stdout)\(ended.stderr)\n--- server ---\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            for shot in ["inbox.png", "run-waiting.png", "run-completed.png", "run-live-completed.png", "failed.png"] {
                let size = (try? FileManager.default.attributesOfItem(atPath: Self.artifacts.appendingPathComponent(shot).path)[.size] as? Int) ?? 0
                #expect(size > 10_000, "screenshot \(shot) is missing or empty")
            }
            let decided = try await ServerCLITests.call(.GET, base + "/v1/approvals?status=all&run=\(runID)", token: token)
            #expect(decided.json["approvals"]?[0]?["decided_by"] == "alice via dashboard")
            #expect(decided.json["approvals"]?[0]?["comment"] == "approved from the browser test")
            let spent = try await ServerCLITests.call(.GET, base + "/v1/runs/\(runID)", token: token).json["spent_usd"]?.stringValue ?? "0"
            #expect(spent != "0", "the screenshot's run has money on it")
            // The Failed page's Retry button continued the dead letter: it completed.
            try await reach(failedID, "completed")
        }
    }
}
