import Foundation

/// An MCP server whose tools an agent may call: `tools: - mcp: {…}` of an `agent` step.
///
/// ```yaml
/// tools:
///   - mcp:
///       name: files                                  # a label for reports and approvals
///       command: ["/opt/venv/bin/python", "/opt/servers/files.py"]   # stdio, in the sandbox
///       read_only: ["/opt/venv", "/opt/servers"]     # extra paths it may read; it writes only its scratch
///       env: {LOG_LEVEL: info}                       # its whole environment (+ {{secrets.X}} named)
///       network: off                                 # off | any | [ports]
///       tools: [read_file, search]                   # allowlist
///       approval: required                           # or per tool: {write_file: required}
///       price_per_call: 0.002                        # or per tool: {search: 0.01, default: 0}
///   - mcp:
///       name: search
///       url: "https://mcp.example.com/mcp"           # Streamable HTTP, under the workflow's egress
///       headers: {Authorization: "Bearer {{secrets.SEARCH_TOKEN}}"}
/// ```
///
/// A stdio server is started through the sandbox launcher at the agent's first tool listing,
/// reused for its loop, and its whole process tree is killed when the step ends. Every call is a
/// step of its own (`AGENT/TURN/TOOL`) of kind ``StepKind/mcp(_:)``: gated, priced, journaled.
public struct MCPServerDefinition: Sendable, Hashable, Codable {
    /// The label: letters, digits, '_' and '-'.
    public var name: String
    public var transport: MCPTransportDefinition
    /// Paths the stdio server may read (and execute) besides the system's (templated).
    public var readOnly: [Template]
    /// The stdio server's whole environment besides PATH, LANG, HOME and TMPDIR.
    public var environment: [SandboxEnvironmentVariable]
    public var network: SandboxNetwork
    /// The stdio server's limits; `wall` is how long the server may live (default 10 minutes).
    public var limits: SandboxLimits
    /// The server's tools the model is offered; nil offers all.
    public var allowedTools: [String]?
    public var approval: MCPApproval
    public var price: MCPPrice
    /// `cost_from: server`: the charge is the cost the server reports in the result's `_meta`.
    public var costFromServer: Bool
    /// Put before each tool's name as the model sees it (`prefix: fs_` offers `fs_read_file`).
    public var prefix: String
    /// Seconds one call (or the start and listing) may take.
    public var timeout: Double?
    /// The workflow's `egress:`, which a `url:` server must pass (stamped by the reader).
    public var egress: EgressPolicy?
    /// `retry:` of each call (a tool may act on the world: none unless written).
    public var retry: RetryPolicy? = nil

    /// How long a stdio server may live when `limits.wall` is not given.
    public static let defaultLifetime: Double = 600
    /// Seconds a call may take when `timeout` is not given.
    public static let defaultTimeout: Double = 60
    /// Seconds the start, the handshake and the listing may take at least (an interpreter and its
    /// SDK can take seconds to import on a loaded machine; a short call `timeout` does not cut them).
    public static let startTimeout: Double = 60

    public init(name: String, transport: MCPTransportDefinition, readOnly: [Template] = [], environment: [SandboxEnvironmentVariable] = [],
                network: SandboxNetwork = .off, limits: SandboxLimits = SandboxLimits(), allowedTools: [String]? = nil,
                approval: MCPApproval = .none, price: MCPPrice = .free, costFromServer: Bool = false, prefix: String = "",
                timeout: Double? = nil, egress: EgressPolicy? = nil) {
        self.name = name
        self.transport = transport
        self.readOnly = readOnly
        self.environment = environment
        self.network = network
        self.limits = limits
        self.allowedTools = allowedTools
        self.approval = approval
        self.price = price
        self.costFromServer = costFromServer
        self.prefix = prefix
        self.timeout = timeout
        self.egress = egress
    }

    public var templates: [Template] {
        switch transport {
        case .stdio(let command): return command + readOnly + environment.map(\.value)
        case .http(let url, let headers): return [url] + headers.map(\.value)
        }
    }

    /// Whether the allowlist lets the model see and call `tool` (the server's own name).
    public func allows(_ tool: String) -> Bool { allowedTools?.contains(tool) ?? true }

    /// The step definition a call of `tool` (the server's name) runs as, under `id`.
    public func callStep(id: String, tool: String) -> StepDefinition {
        StepDefinition(id: id, retry: retry, timeout: timeout,
                       kind: .mcp(MCPCallDefinition(server: name, tool: tool, price: price.price(for: tool), costFromServer: costFromServer)),
                       approval: approval.settings(for: tool))
    }
}

public enum MCPTransportDefinition: Sendable, Hashable, Codable {
    /// `command:` argv, started through the sandbox launcher; JSON-RPC on its stdin and stdout.
    case stdio(command: [Template])
    /// `url:` and `headers:`: Streamable HTTP (POST, JSON or one SSE event in answer).
    case http(url: Template, headers: [HTTPField])
}

/// `approval:` of an MCP server.
public enum MCPApproval: Sendable, Hashable, Codable {
    case none
    /// `approval: required`: every call waits for a person.
    case all(ApprovalSettings)
    /// `approval: {write_file: required}`: those tools' calls wait.
    case perTool([String: ApprovalSettings])

    public func settings(for tool: String) -> ApprovalSettings? {
        switch self {
        case .none: return nil
        case .all(let settings): return settings
        case .perTool(let tools): return tools[tool]
        }
    }
}

/// `price_per_call:` of an MCP server: reserved before each call, charged after.
public enum MCPPrice: Sendable, Hashable, Codable {
    case free
    case flat(Money)
    /// Per tool, with the price of tools not listed (`default:`, else free).
    case perTool([String: Money], otherwise: Money?)

    /// The price of one call of `tool`; nil when it is free.
    public func price(for tool: String) -> Money? {
        switch self {
        case .free: return nil
        case .flat(let money): return money
        case .perTool(let tools, let otherwise): return tools[tool] ?? otherwise
        }
    }

    /// The most one call can be priced at, among the tools `allowed` (nil: any tool the server
    /// has, listed or not); nil when every such call is free. What `wflo validate` plans with.
    public func highest(allowed: [String]?) -> Money? {
        let highest: Money?
        switch self {
        case .free: highest = nil
        case .flat(let money): highest = money
        case .perTool(let tools, let otherwise):
            highest = (allowed.map { $0.compactMap { tools[$0] ?? otherwise } } ?? Array(tools.values) + [otherwise].compactMap { $0 }).max()
        }
        return highest.flatMap { $0 > .zero ? $0 : nil }
    }
}

/// One call of an MCP server's tool, as a step of the agent (`AGENT/TURN/TOOL`). Its arguments
/// are the model's; its output is `{content, is_error, structured?, cost_usd?}`.
public struct MCPCallDefinition: Sendable, Hashable, Codable {
    /// The server's ``MCPServerDefinition/name``.
    public var server: String
    /// The tool's name as the server gives it (without the prefix).
    public var tool: String
    /// Reserved before the call and charged after (nil: free).
    public var price: Money?
    /// The charge is the server's reported cost (`_meta`), reconciled against the reservation.
    public var costFromServer: Bool

    public init(server: String, tool: String, price: Money? = nil, costFromServer: Bool = false) {
        self.server = server
        self.tool = tool
        self.price = price
        self.costFromServer = costFromServer
    }

    /// What a settled call is charged, given the cost the server reported (if any): its price;
    /// with `cost_from: server`, the reported cost — flagged `mcp_cost_above_reservation` when it
    /// passes the price reserved — or, when the server reports none (or a negative one), the
    /// reservation, flagged `mcp_cost_not_reported`: never less than is known to be owed.
    public func charge(reported: Money?) -> (cost: Money, flags: [String]) {
        let reserved = price ?? .zero
        guard costFromServer else { return (reserved, []) }
        guard let reported, !reported.isNegative else { return (reserved, ["mcp_cost_not_reported"]) }
        return (reported, reported > reserved ? ["mcp_cost_above_reservation"] : [])
    }
}
