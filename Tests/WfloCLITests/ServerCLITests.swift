import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import WfloCore
import WfloTesting

/// `wflo server` as people start it: the real binary on a free loopback port, tokens made with
/// `wflo tokens`, a run submitted over HTTP, driven by the server's own worker loops to its
/// approval, approved over HTTP, completed; then SIGTERM ends it with exit 0.
@Suite(.timeLimit(.minutes(10)))
struct ServerCLITests {
    static let gated = """
        name: gated
        budget: 0
        steps:
          - id: publish
            type: approval
            message: "Publish?"
          - id: done
            type: transform
            depends_on: [publish]
            output: {published: true}
        """

    /// Starts `wflo server` with `arguments`, its output in a file, and waits for `listening on URL`.
    static func startServer(_ wflo: WfloProcess, in directory: URL, _ arguments: [String] = []) async throws -> (SpawnedProcess, String, URL) {
        let log = directory.appendingPathComponent("server-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let fd = open(log.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        defer { close(fd) }
        let process = try SpawnedProcess(executable: WfloProcess.executable.path, arguments: ["server", "--listen", "127.0.0.1:0"] + arguments,
                                         environment: wflo.environment, directory: WfloProcess.repositoryRoot.path, output: .descriptor(fd))
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .seconds(120) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on http://") }) {
                return (process, String(line.dropFirst("listening on ".count)), log)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.send(SIGKILL)
        _ = await process.finish()
        Issue.record("wflo server did not print `listening on`: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        throw CancellationError()
    }

    static func call(_ method: HTTPMethod, _ url: String, token: String?, body: JSONValue? = nil) async throws -> (status: Int, json: JSONValue) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.encoded()))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return (Int(response.status.code), (try? JSONValue.parse(text)) ?? .null)
    }

    @Test(arguments: TestJournal.all)
    func aRunSubmittedOverHTTPIsApprovedOverHTTPAndCompletes(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { _, wflo, directory in
            let alice = try await wflo.run(["tokens", "create", "alice", "--role", "approve", "--json"])
            #expect(alice.status == 0, "\(alice.stderr)")
            let aliceToken = try #require(try JSONValue.parse(alice.stdout)["token"]?.stringValue)
            let bot = try await wflo.run(["tokens", "create", "ci-bot", "--role", "submit"])
            let botToken = bot.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(botToken.hasPrefix("wflo_") && bot.stderr.contains("shown only this once"))
            let list = try await wflo.run(["tokens", "list"])
            #expect(list.stdout.contains("alice") && list.stdout.contains("approve") && !list.stdout.contains(aliceToken))

            let (server, base, log) = try await Self.startServer(wflo, in: directory, ["--workers", "2"])
            #expect(base.hasPrefix("http://127.0.0.1:") && !base.hasSuffix(":0"))
            #expect(try await Self.call(.GET, base + "/healthz", token: nil).status == 200)
            #expect(try await Self.call(.GET, base + "/v1/runs", token: nil).status == 401)

            let submitted = try await Self.call(.POST, base + "/v1/runs", token: botToken, body: ["workflow": .string(Self.gated)])
            #expect(submitted.status == 201)
            let runID = try #require(submitted.json["run_id"]?.stringValue)
            var status = ""
            let clock = ContinuousClock()
            var start = clock.now
            while clock.now - start < .seconds(60) {
                status = try await Self.call(.GET, base + "/v1/runs/\(runID)", token: botToken).json["status"]?.stringValue ?? ""
                if status == "waiting_approval" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == "waiting_approval")
            let pending = try await Self.call(.GET, base + "/v1/approvals?run=\(runID)", token: botToken)
            let approvalID = try #require(pending.json["approvals"]?[0]?["id"]?.stringValue)
            #expect(try await Self.call(.POST, base + "/v1/approvals/\(approvalID)/decision", token: botToken,
                                        body: ["decision": "approve"]).status == 403)
            let decided = try await Self.call(.POST, base + "/v1/approvals/\(approvalID)/decision", token: aliceToken,
                                              body: ["decision": "approve", "comment": "ok"])
            #expect(decided.status == 200)
            #expect(decided.json["approval"]?["decided_by"] == "alice via api")
            start = clock.now
            while clock.now - start < .seconds(60) {
                status = try await Self.call(.GET, base + "/v1/runs/\(runID)", token: botToken).json["status"]?.stringValue ?? ""
                if status == "completed" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == "completed")

            server.send(SIGTERM)
            let ended = await server.wait(seconds: 60)
            #expect(ended?.status == 0 && ended?.killedBySignal == false, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            if ended == nil {
                server.send(SIGKILL)
                _ = await server.finish()
            }
            // The CLI sees the decision as the API recorded it.
            let approvals = try await wflo.run(["approvals", "--all", "--json"])
            #expect(approvals.stdout.contains("alice via api"), "\(approvals.output)")
        }
    }

    /// One request as a browser sends it (no redirect followed): the status, the `name=value` of
    /// each Set-Cookie, the Location and the body.
    static func browse(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, cookies: [String], form: String? = nil) async throws
        -> (status: Int, cookies: [String], location: String?, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.joined(separator: "; ")) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 4 << 20))
        return (Int(response.status.code), response.headers["Set-Cookie"].map { String($0.split(separator: ";")[0]) },
                response.headers.first(name: "Location"), body)
    }

    /// Logs in to the dashboard at `base` through its form (pre-session cookie and CSRF token) and returns the session cookie.
    static func logIn(_ client: HTTPClient, _ base: String, token: String) async throws -> String {
        let form = try await browse(client, .GET, base + "/login", cookies: [])
        let loginCookie = try #require(form.cookies.first { $0.hasPrefix("wflo_login=") })
        let marker = "name=\"csrf\" value=\""
        let tail = try #require(form.body.range(of: marker))
        let csrf = String(form.body[tail.upperBound...].prefix { $0 != "\"" })
        let login = try await browse(client, .POST, base + "/login", cookies: [loginCookie], form: "token=\(token)&csrf=\(csrf)")
        #expect(login.status == 302 && login.location == "/", "\(login.body)")
        return try #require(login.cookies.first { $0.hasPrefix("wflo_session=") })
    }

    /// A dashboard session is kept in the journal: it still works after the real server restarts,
    /// and revoking its token (with `wflo tokens revoke`) ends it.
    @Test(arguments: TestJournal.all)
    func aDashboardSessionOutlivesARestartAndEndsWithItsToken(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { _, wflo, directory in
            let alice = try await wflo.run(["tokens", "create", "alice", "--role", "approve"])
            let token = alice.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            do {
                var (server, base, log) = try await Self.startServer(wflo, in: directory, ["--workers", "0"])
                let session = try await Self.logIn(client, base, token: token)
                #expect(try await Self.browse(client, .GET, base + "/", cookies: [session]).status == 200)

                server.send(SIGTERM)
                let ended = await server.wait(seconds: 60)
                #expect(ended?.status == 0, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
                (server, base, log) = try await Self.startServer(wflo, in: directory, ["--workers", "0"])
                let after = try await Self.browse(client, .GET, base + "/", cookies: [session])
                #expect(after.status == 200 && after.body.contains("alice (approve)"), "the session outlived the restart: \(after.status)")
                #expect(try await Self.browse(client, .GET, base + "/", cookies: ["wflo_session=" + String(repeating: "0", count: 64)]).status == 302)

                #expect(try await wflo.run(["tokens", "revoke", "alice"]).status == 0)
                let revoked = try await Self.browse(client, .GET, base + "/", cookies: [session])
                #expect(revoked.status == 302 && revoked.location == "/login", "revoking the token ended its session")
                server.send(SIGTERM)
                if await server.wait(seconds: 60) == nil {
                    server.send(SIGKILL)
                    _ = await server.finish()
                }
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    @Test func badServerOptionsExit2NamingTheOption() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let listen = try await wflo.run(["server", "--listen", "localhost"])
            #expect(listen.status == 2 && listen.stderr.contains("--listen 'localhost' must be HOST:PORT"), "\(listen.stderr)")
            let base = try await wflo.run(["server", "--base-url", "ftp://x"])
            #expect(base.status == 2 && base.stderr.contains("--base-url"))
            let folder = try await wflo.run(["server", "--workflows-dir", "/nonexistent/flows"])
            #expect(folder.status == 2 && folder.stderr.contains("--workflows-dir '/nonexistent/flows' is not a folder"), "\(folder.stderr)")
            let role = try await wflo.run(["tokens", "create", "x", "--role", "boss"])
            #expect(role.status == 2)
            let name = try await wflo.run(["tokens", "create", "a b", "--role", "read"])
            #expect(name.status == 2 && name.stderr.contains("token name 'a b'"))
            #expect(try await wflo.run(["tokens", "create", "dup", "--role", "read"]).status == 0)
            let duplicate = try await wflo.run(["tokens", "create", "dup", "--role", "read"])
            #expect(duplicate.status == 2 && duplicate.stderr.contains("already"))
            #expect(try await wflo.run(["tokens", "revoke", "dup"]).status == 0)
            let gone = try await wflo.run(["tokens", "revoke", "dup"])
            #expect(gone.status == 2 && gone.stderr.contains("no live token named 'dup'"))
        }
    }
}
