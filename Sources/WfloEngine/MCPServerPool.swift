import Foundation
import WfloCore
import WfloProviders
import WfloSandbox

/// The MCP servers of one agent step: each connected (a stdio server started in the sandbox) at
/// the first listing, reused for the whole loop, and closed — its process tree killed — by
/// ``close()`` when the step ends, is cancelled or fails. A call that times out kills its server
/// (the next call starts it again).
///
/// With `--replay` a stdio server is never started: its tool list and results come from the
/// cassette; with `--record` they are added to it (``MCPCassette``). Streamable HTTP servers
/// are reached through the http steps' transport, after the egress check, and recorded or
/// replayed by it.
actor MCPServerPool {
    private let servers: [MCPServerDefinition]
    private let scope: TemplateScope
    private let configuration: MCPEnvironment
    private var clients: [String: MCPClient] = [:]
    private var listed: [AgentTool]?

    init(servers: [MCPServerDefinition], scope: TemplateScope, configuration: MCPEnvironment) {
        self.servers = servers
        self.scope = scope
        self.configuration = configuration
    }

    private var cassette: MCPCassette? { configuration.cassette }

    /// The tools every server offers (allowlisted, prefixed), as the model's tools; listed once.
    /// - Throws: ``EngineError`` naming the server and what went wrong (a start failure with its
    ///   stderr's last lines, a tool in the allowlist the server does not offer, a clash of names).
    func tools(besides own: [AgentTool]) async throws -> [AgentTool] {
        if let listed { return listed }
        var tools: [AgentTool] = []
        var names = Set(own.map(\.name))
        for server in servers {
            let offered = try await list(server)
            if let allowed = server.allowedTools {
                let missing = allowed.filter { name in !offered.contains { $0.name == name } }
                if !missing.isEmpty {
                    throw EngineError(.configuration, "mcp server '\(server.name)' offers no tool \(missing.map { "'\($0)'" }.joined(separator: ", ")) of its 'tools' allowlist (it offers: \(offered.map(\.name).joined(separator: ", ")))")
                }
            }
            for tool in offered where server.allows(tool.name) {
                let name = server.prefix + tool.name
                guard AgentJournalID.isSafe(name) else {
                    throw EngineError(.configuration, "mcp server '\(server.name)' offers a tool named '\(name)', which providers do not accept (letters, digits, '_' and '-', at most 64); leave it out with 'tools:'")
                }
                guard names.insert(name).inserted else {
                    throw EngineError(.configuration, "mcp server '\(server.name)' offers a tool '\(name)' and the agent already has one of that name; give the server a 'prefix:'")
                }
                let schema: JSONValue = tool.inputSchema["type"]?.stringValue == "object" ? tool.inputSchema
                    : ["type": "object", "properties": .object([:])]
                tools.append(AgentTool(name: name, description: tool.description, parameters: schema,
                                       action: .step(server.callStep(id: name, tool: tool.name))))
            }
        }
        listed = tools
        return tools
    }

    private func list(_ server: MCPServerDefinition) async throws -> [MCPTool] {
        let timeout = max(server.timeout ?? MCPServerDefinition.defaultTimeout, MCPServerDefinition.startTimeout)
        do {
            if case .stdio = server.transport, let cassette, let answer = try cassette.answer(server: server.name, method: "tools/list", params: .object([:])) {
                return try MCPClient.tools(in: answer)
            }
            let client = try await client(for: server)
            let tools = try await client.listTools(timeout: timeout)
            if case .stdio = server.transport {
                cassette?.record(server: server.name, method: "tools/list", params: .object([:]),
                                 result: ["tools": .array(tools.map { tool -> JSONValue in
                                     ["name": .string(tool.name), "description": .string(tool.description), "inputSchema": tool.inputSchema]
                                 })])
            }
            return tools
        } catch let error as MCPError {
            if error.kind == .timeout { await drop(server.name) }
            throw EngineError(.configuration, "mcp server '\(server.name)': \(redacted(error.message))")
        } catch let error as ProviderError {
            throw EngineError(.configuration, "mcp server '\(server.name)': \(error.description)")
        }
    }

    /// Calls a tool (the server's own name) of the server named `serverName`.
    /// - Throws: ``MCPError`` (a time-out kills the server), ``ProviderError`` (not in the
    ///   cassette), ``EngineError`` (the server cannot start).
    func call(server serverName: String, tool: String, arguments: JSONValue, timeout: Double) async throws -> MCPToolResult {
        guard let server = servers.first(where: { $0.name == serverName }) else {
            throw EngineError(.configuration, "the agent has no mcp server '\(serverName)'")
        }
        let params: JSONValue = ["name": .string(tool), "arguments": arguments]
        if case .stdio = server.transport, let cassette, let answer = try cassette.answer(server: server.name, method: "tools/call", params: params) {
            return MCPToolResult(json: answer)
        }
        let client = try await client(for: server)
        do {
            let result = try await client.channel.request("tools/call", params: params, timeout: timeout)
            if case .stdio = server.transport { cassette?.record(server: server.name, method: "tools/call", params: params, result: result) }
            return MCPToolResult(json: result)
        } catch let error as MCPError {
            if error.kind != .server { await drop(server.name) }
            throw MCPError(error.kind, redacted(error.message))
        }
    }

    /// Kills every server started (stdio) and forgets the connections.
    func close() async {
        for name in Array(clients.keys) { await drop(name) }
    }

    private func drop(_ name: String) async {
        guard let client = clients.removeValue(forKey: name) else { return }
        await client.channel.close()
    }

    private func redacted(_ text: String) -> String { configuration.secrets.redactor.redact(text) }

    // MARK: connecting

    private func client(for server: MCPServerDefinition) async throws -> MCPClient {
        if let client = clients[server.name] { return client }
        let timeout = max(server.timeout ?? MCPServerDefinition.defaultTimeout, MCPServerDefinition.startTimeout)
        let channel: any MCPChannel
        var rendering = scope
        rendering.secrets = configuration.secrets
        switch server.transport {
        case .stdio(let command):
            let request = try Self.sandboxRequest(server, command: command, scope: rendering)
            let session: SandboxSession
            do {
                session = try configuration.sandbox.start(request)
            } catch let error as SandboxError {
                throw EngineError(.configuration, "mcp server '\(server.name)' cannot start in the sandbox: \(error.description)")
            }
            channel = MCPLineChannel(pipe: SandboxLinePipe(session: session))
        case .http(let urlTemplate, let headerTemplates):
            let url = try rendering.renderText(urlTemplate)
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
                throw EngineError(.configuration, "mcp server '\(server.name)': 'url' is not an http:// or https:// URL after rendering: \(redacted(url))")
            }
            let guardrail = EgressGuard(policy: server.egress, resolver: configuration.resolver,
                                        user: configuration.userEgress.map { ($0.policy, $0.file) })
            let target: EgressCheckedTarget
            do {
                target = try await guardrail.check(parsed)
            } catch let refusal as EgressRefusal {
                throw EngineError(.configuration, "mcp server '\(server.name)': \(refusal.description)")
            } catch let error as EgressResolutionError {
                throw EngineError(.configuration, "mcp server '\(server.name)': \(error.description)")
            }
            guard let transport = configuration.http else {
                throw EngineError(.configuration, "mcp server '\(server.name)' is reached over HTTP, and this run has no HTTP transport")
            }
            var headers = try headerTemplates.map { HTTPExchange.Header($0.name, try rendering.renderText($0.value)) }
            // Connect to the address the check approved (no second lookup to rebind), as http steps do.
            if let host = target.hostHeader, !headers.contains(where: { $0.name.caseInsensitiveCompare("Host") == .orderedSame }) {
                headers.append(HTTPExchange.Header("Host", host))
            }
            channel = MCPHTTPChannel(url: target.connectURL, headers: headers, transport: transport)
        }
        do {
            let client = try await MCPClient.connect(channel, timeout: timeout)
            clients[server.name] = client
            return client
        } catch {
            await channel.close()
            throw error
        }
    }

    /// A stdio server's sandbox: the process backend, only the given environment, its
    /// read-only paths, no network unless allowed, and its limits (the wall limit is its lifetime).
    static func sandboxRequest(_ server: MCPServerDefinition, command: [Template], scope: TemplateScope) throws -> SandboxRequest {
        let argv = try command.map { try scope.renderText($0) }
        guard let first = argv.first, !first.isEmpty else {
            throw EngineError(.configuration, "mcp server '\(server.name)': the command is empty after rendering its templates")
        }
        var environment: [String: String] = [:]
        for variable in server.environment { environment[variable.name] = try scope.renderText(variable.value) }
        var limits = server.limits
        if limits.wall == nil { limits.wall = MCPServerDefinition.defaultLifetime }
        if limits.cpu == nil { limits.cpu = limits.wall }
        var policy = SandboxPolicy(backend: .process, limits: limits, network: server.network)
        policy.readOnly = try server.readOnly.map { template in
            let path = try scope.renderText(template)
            guard path.hasPrefix("/") else {
                throw EngineError(.configuration, "mcp server '\(server.name)': 'read_only' holds '\(path)' after rendering, not an absolute path")
            }
            return path
        }
        return SandboxRequest(command: argv, environment: environment, policy: policy)
    }
}

/// What starting and reaching MCP servers needs from the run's world.
public struct MCPEnvironment: Sendable {
    public var sandbox: Sandbox
    /// Streamable HTTP servers' POSTs go through it (and so to and from the cassette).
    public var http: (any HTTPStepTransport)?
    /// `{{secrets.NAME}}` in a server's `env:` and `headers:`; every message is redacted with it.
    public var secrets: SecretStore
    public var resolver: HostResolver
    public var userEgress: UserEgressPolicy?
    public var cassette: MCPCassette?

    public init(sandbox: Sandbox = Sandbox(), http: (any HTTPStepTransport)?, secrets: SecretStore, resolver: HostResolver = .system,
                userEgress: UserEgressPolicy? = nil, cassette: MCPCassette? = nil) {
        self.sandbox = sandbox
        self.http = http
        self.secrets = secrets
        self.resolver = resolver
        self.userEgress = userEgress
        self.cassette = cassette
    }
}

extension ExecutorConfiguration {
    var mcpEnvironment: MCPEnvironment {
        MCPEnvironment(sandbox: sandbox, http: http, secrets: secrets, resolver: resolver, userEgress: userEgress, cassette: mcpCassette)
    }
}

/// A tool an MCP server offers an agent, as `wflo mcp tools` shows it.
public struct MCPListedTool: Sendable, Hashable {
    public var server: String
    /// The name the model sees (with the server's prefix).
    public var name: String
    public var description: String
    public var parameters: JSONValue
    public var price: Money?
    public var approval: Bool
}

/// Lists what an agent's MCP servers offer (`wflo mcp tools FILE STEP`), starting stdio servers
/// in the sandbox as a run would, then stopping them.
public enum MCPToolListing {
    /// - Throws: ``EngineError`` naming the server that cannot be started, reached or listed.
    public static func tools(of agent: AgentStepDefinition, inputs: JSONValue, environment: MCPEnvironment) async throws -> [MCPListedTool] {
        let pool = MCPServerPool(servers: agent.mcpServers, scope: TemplateScope(inputs: inputs, steps: [:]), configuration: environment)
        do {
            let tools = try await pool.tools(besides: agent.tools)
            await pool.close()
            return tools.compactMap { tool in
                guard case .step(let step) = tool.action, case .mcp(let call) = step.kind else { return nil }
                return MCPListedTool(server: call.server, name: tool.name, description: tool.description, parameters: tool.parameters,
                                     price: call.price, approval: step.approval != nil)
            }
        } catch {
            await pool.close()
            throw error
        }
    }
}

/// A sandboxed program's pipes as an MCP stdio channel sees them.
struct SandboxLinePipe: MCPLinePipe {
    let session: SandboxSession

    var lines: AsyncStream<String> { session.lines }

    func send(_ line: String, timeout: Double) throws {
        try session.write(Array((line + "\n").utf8), timeout: timeout)
    }

    func close() async { await session.stop() }

    var diagnostics: String {
        var parts: [String] = []
        if let end = session.endDescription { parts.append("the server \(end)") }
        let tail = session.stderrTail(lines: 8)
        if !tail.isEmpty { parts.append("its stderr ends:\n" + tail) }
        return parts.joined(separator: "; ")
    }
}
