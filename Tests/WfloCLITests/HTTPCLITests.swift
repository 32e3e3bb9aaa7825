import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// http steps through the real `wflo` executable: secrets never written anywhere, circuits listed
/// and reset, the example run against the loopback service.
@Suite(.timeLimit(.minutes(2)))
struct HTTPCLITests {
    static let secret = "sk-live-7Q2wX9pL4vN8rT1z"

    static func withService<T>(_ body: (FakeHTTPService, WfloProcess, URL) async throws -> T) async throws -> T {
        let service = try await FakeHTTPService.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-http-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "WFLO_DB": directory.appendingPathComponent("wflo.db").path,
            "WFLO_SECRET_API_TOKEN": secret,
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let result = try await body(service, wflo, directory)
            await service.shutdown()
            return result
        } catch {
            await service.shutdown()
            throw error
        }
    }

    static func write(_ yaml: String, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("workflow-\(UUID().uuidString.prefix(6)).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every byte under `directory` (the journal, its -wal and -shm) plus the given outputs.
    static func everyByteWritten(in directory: URL, outputs: [String]) throws -> [(String, Data)] {
        var found: [(String, Data)] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        for name in files where !name.hasSuffix(".yaml") {
            found.append((name, try Data(contentsOf: directory.appendingPathComponent(name))))
        }
        for (index, text) in outputs.enumerated() { found.append(("output \(index)", Data(text.utf8))) }
        return found
    }

    static func workflow(port: Int, path: String, expect: String) -> String {
        """
        name: secret-scan
        budget: 0.01
        egress: {allow: ["127.0.0.1"]}
        steps:
          - id: call
            type: http
            method: POST
            url: "http://127.0.0.1:\(port)\(path)?api_key={{secrets.API_TOKEN}}"
            headers: {Authorization: "Bearer {{secrets.API_TOKEN}}", Idempotency-Key: scan-1}
            json: {token: "{{secrets.API_TOKEN}}", note: "echo me"}
            expect_status: \(expect)
            retry: {maximum_attempts: 2, initial_interval: 0}
          - id: after
            type: transform
            output: "{{steps.call.output.json.headers.authorization}}"
        outputs:
          seen: "{{steps.after.output}}"
          body: "{{steps.call.output.body}}"
        """
    }

    @Test func noByteTheRunWritesHoldsTheSecretWhetherItSucceedsOrFails() async throws {
        try await Self.withService { service, wflo, directory in
            // Holding the journal open keeps SQLite from folding the -wal file away when each
            // wflo process exits, so the scan below reads the WAL as the runs wrote it.
            let keeper = try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path)
            // Succeeds: the service echoes the token back in headers, query and body.
            let ok = try await wflo.run(["run", try Self.write(Self.workflow(port: service.port, path: "/anything", expect: "[200]"), in: directory), "--json"])
            #expect(ok.status == 0, "\(ok.stderr)")
            let okJSON = try JSONValue.parse(ok.stdout)
            #expect(okJSON["outputs"]?["seen"] == "Bearer [secret:API_TOKEN]")
            let okRun = try #require(okJSON["run_id"]?.stringValue)

            // Fails: the echo comes back with an unexpected status; the error quotes the body.
            let failed = try await wflo.run(["run", try Self.write(Self.workflow(port: service.port, path: "/anything", expect: "[201]"), in: directory)])
            #expect(failed.status == 1)
            #expect(failed.output.contains("[secret:API_TOKEN]"), "\(failed.output)")
            let failedRun = try #require(failed.stdout.split(separator: " ").first { $0.count == 16 }.map(String.init))

            // Fails with retries: a server error, retried once, progress lines on stdout.
            let retried = try await wflo.run(["run", try Self.write(Self.workflow(port: service.port, path: "/status/503", expect: "[200]"), in: directory)])
            #expect(retried.status == 1)
            #expect(retried.output.contains("↻ call"), "\(retried.output)")

            // The service did receive the real token.
            #expect(service.requests().first?.headers["authorization"] == "Bearer \(Self.secret)")

            var outputs = [ok.stdout, ok.stderr, failed.stdout, failed.stderr, retried.stdout, retried.stderr]
            for run in [okRun, failedRun] {
                let report = try await wflo.run(["report", run, "--format", "json"])
                #expect(report.status == 0, "\(report.stderr)")
                let status = try await wflo.run(["status", run])
                outputs += [report.stdout, report.stderr, status.stdout, status.stderr]
            }
            let written = try Self.everyByteWritten(in: directory, outputs: outputs)
            #expect(written.contains { $0.0 == "wflo.db" })
            #expect(written.contains { $0.0 == "wflo.db-wal" })
            let needle = Data(Self.secret.utf8)
            for (name, data) in written {
                #expect(data.range(of: needle) == nil, "the secret is in \(name)")
            }
            #expect(written.contains { $0.1.range(of: Data("[secret:API_TOKEN]".utf8)) != nil })
            #expect(try keeper.appliedMigrations().contains("v5_circuits"))
        }
    }

    @Test func circuitsAreListedAndReset() async throws {
        try await Self.withService { service, wflo, directory in
            let path = try Self.write("""
                name: flaky
                budget: 0.01
                egress: {allow: ["127.0.0.1"]}
                circuit_breaker: {failure_threshold: 2, open_for: 10m}
                steps:
                  - id: call
                    type: http
                    url: "http://127.0.0.1:\(service.port)/status/502"
                    retry: {maximum_attempts: 2, initial_interval: 0}
                """, in: directory)
            let first = try await wflo.run(["run", path])
            #expect(first.status == 1)
            #expect(service.requestCount == 2)
            let second = try await wflo.run(["run", path])
            #expect(second.status == 1)
            #expect(second.output.contains("the circuit for 127.0.0.1:\(service.port) is open"), "\(second.output)")
            #expect(service.requestCount == 2, "an open circuit sends nothing")

            let list = try await wflo.run(["circuits", "--json"])
            #expect(list.status == 0, "\(list.stderr)")
            let circuits = try #require(try JSONValue.parse(list.stdout).arrayValue)
            #expect(circuits.count == 1)
            #expect(circuits.first?["host"]?.stringValue == "127.0.0.1:\(service.port)")
            #expect(circuits.first?["state"] == "open")
            #expect(circuits.first?["last_error"]?.stringValue?.contains("HTTP 502") == true)
            let table = try await wflo.run(["circuits"])
            #expect(table.stdout.contains("127.0.0.1:\(service.port)"))
            #expect(table.stdout.contains("open"))

            let unknown = try await wflo.run(["circuits", "reset", "nowhere.test"])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("no circuit for 'nowhere.test'"))
            let reset = try await wflo.run(["circuits", "reset", "127.0.0.1:\(service.port)"])
            #expect(reset.status == 0)
            #expect(reset.stdout.contains("Reset 1 circuit."))
            let empty = try await wflo.run(["circuits"])
            #expect(empty.stdout.contains("No circuits"))
            let third = try await wflo.run(["run", path])
            #expect(third.status == 1)
            #expect(service.requestCount == 4, "requests flow again after the reset")
        }
    }

    @Test func theHTTPExampleRunsAgainstTheLoopbackService() async throws {
        try await Self.withService { service, wflo, _ in
            let example = WfloProcess.repositoryRoot.appendingPathComponent("Examples/http/workflow.yaml").path
            let check = try await wflo.run(["validate", example])
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            let run = try await wflo.run(["run", example, "--input", "port=\(service.port)", "--json"])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let json = try JSONValue.parse(run.stdout)
            #expect(json["outputs"]?["summary"] == "Filed 'Nightly build failed on main' with labels [\"ci\",\"nightly\"] (HTTP 200)")
            #expect(json["outputs"]?["authorization_seen"] == "Bearer [secret:API_TOKEN]")
            #expect(json["spent_usd"]?.stringValue.flatMap { Money(string: $0) } == .zero)
            #expect(service.requests().map(\.path) == ["/json", "/anything/tickets"])
            #expect(!run.output.contains(Self.secret))
        }
    }

    @Test func aMissingSecretFailsTheRunNamingWhereToSetIt() async throws {
        try await Self.withService { service, wflo, _ in
            let example = WfloProcess.repositoryRoot.appendingPathComponent("Examples/http/workflow.yaml").path
            let run = try await wflo.run(["run", example, "--input", "port=\(service.port)"], extraEnvironment: ["WFLO_SECRET_API_TOKEN": ""])
            #expect(run.status == 1)
            #expect(service.requests().map(\.path) == ["/json"])
            #expect(run.output.contains("secret 'API_TOKEN'"), "\(run.output)")
        }
    }
}

/// Issue 22, item 1, the offline repro: a replayed 503 with a hostile `Retry-After` neither kills
/// `wflo run` nor leaves a journal that `status` and `report` cannot read.
@Suite(.timeLimit(.minutes(2)))
struct HostileRetryAfterCLITests {
    @Test(arguments: ["inf", "1e30", "99999999999999999999"])
    func aReplayed503WithAHostileRetryAfterFailsTheStepAndTheJournalStaysReadable(value: String) async throws {
        try await HTTPCLITests.withService { _, wflo, directory in
            let exchange: JSONValue = [
                "kind": "http",
                "request": ["method": "GET", "url": "http://127.0.0.1:9/x", "body": ["text": ""]],
                "response": ["status": 503, "headers": ["retry-after": .string(value), "content-type": "text/plain"],
                             "body": ["text": "busy"]],
            ]
            let cassette = directory.appendingPathComponent("cassette.json")
            try (JSONValue.object(["version": 1, "exchanges": [exchange, exchange, exchange]]).encoded(pretty: true) + "\n")
                .write(to: cassette, atomically: true, encoding: .utf8)
            let workflow = try HTTPCLITests.write("""
                name: hostile-retry-after
                budget: 0.01
                egress: {allow: ["127.0.0.1"]}
                steps:
                  - id: call
                    type: http
                    url: "http://127.0.0.1:9/x"
                    retry: {maximum_attempts: 3, initial_interval: 0, maximum_interval: 0s}
                """, in: directory)
            let run = try await wflo.run(["run", workflow, "--replay", cassette.path, "--json"])
            #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
            let json = try JSONValue.parse(run.stdout)
            let runID = try #require(json["run_id"]?.stringValue)
            let status = try await wflo.run(["status", runID])
            #expect(status.status == 1 || status.status == 0, "\(status.stdout)\n\(status.stderr)")
            #expect(!status.stderr.contains("damaged"), "\(status.stderr)")
            #expect(status.stdout.contains("HTTP 503"), "\(status.stdout)")
            let report = try await wflo.run(["report", runID, "--format", "json"])
            #expect(report.status == 0, "\(report.stderr)")
            let events = try JSONValue.parse(report.stdout)
            #expect(!events.encoded().contains("inf"))
        }
    }
}

/// Issue 22, item 2: a secret full of reserved characters, sent in the query, a header and a JSON
/// body and echoed back, is in no encoding in any byte the run writes (journal, WAL, stdout,
/// status, reports).
@Suite(.timeLimit(.minutes(2)))
struct HostileSecretCLITests {
    static let secret = #"P@ss-w0rd!/?#&=+%:;,[]"'\$*~ x9"#

    /// The secret's encodings, worked out here independently of the redactor.
    static var encodings: [String] {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let percent = secret.addingPercentEncoding(withAllowedCharacters: unreserved)!
        let jsonEscaped = secret.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return [secret, percent, percent.replacingOccurrences(of: "%20", with: "+"), jsonEscaped,
                jsonEscaped.replacingOccurrences(of: "/", with: "\\/"), Data(secret.utf8).base64EncodedString()]
    }

    @Test func noByteTheRunWritesHoldsTheSecretInAnyEncoding() async throws {
        try await HTTPCLITests.withService { service, wflo, directory in
            let keeper = try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path)
            let workflow = try HTTPCLITests.write("""
                name: hostile-secret
                budget: 0.01
                egress: {allow: ["127.0.0.1"]}
                steps:
                  - id: call
                    type: http
                    method: POST
                    url: "http://127.0.0.1:\(service.port)/anything"
                    query: {s: "{{secrets.S}}"}
                    headers: {X-Key: "{{secrets.S}}", Idempotency-Key: k1}
                    json: {token: "{{secrets.S}}"}
                    expect_status: [201]
                    retry: {maximum_attempts: 2, initial_interval: 0}
                """, in: directory)
            let run = try await wflo.run(["run", workflow], extraEnvironment: ["WFLO_SECRET_S": Self.secret])
            #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("[secret:S]"), "\(run.stdout)")
            #expect(service.requests().first?.headers["x-key"] == Self.secret)
            let runID = try #require(try await keeper.listRuns(limit: 1).first?.id)
            var outputs = [run.stdout, run.stderr]
            for arguments in [["status", runID], ["report", runID, "--format", "json"], ["report", runID]] {
                let shown = try await wflo.run(arguments)
                outputs += [shown.stdout, shown.stderr]
            }
            let written = try HTTPCLITests.everyByteWritten(in: directory, outputs: outputs)
            #expect(written.contains { $0.0 == "wflo.db-wal" })
            for (name, data) in written {
                for form in Self.encodings {
                    #expect(data.range(of: Data(form.utf8)) == nil, "'\(form)' is in \(name)")
                }
            }
        }
    }
}
