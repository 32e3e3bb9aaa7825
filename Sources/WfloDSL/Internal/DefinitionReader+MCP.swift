import Foundation
import WfloCore

extension DefinitionReader {
    static let mcpFields = ["name", "command", "url", "headers", "read_only", "env", "network", "limits", "tools", "approval",
                            "price_per_call", "cost_from", "prefix", "timeout", "retry"]

    /// `- mcp: {name, command | url, …}` in an agent's `tools:`.
    mutating func readMCPServer(_ node: Node, agentID: String) -> MCPServerDefinition? {
        guard case .mapping = node else {
            error(node, "step '\(agentID)': 'mcp' must be a mapping with 'name' and 'command' (a stdio server) or 'url' (Streamable HTTP), not \(shown(node))")
            return nil
        }
        let f = fields(node, allowed: Self.mcpFields, context: "step '\(agentID)': 'mcp'")
        guard let nameField = f["name"] else {
            error(node, "step '\(agentID)': an 'mcp' server is missing the required field 'name' (a label for reports and approvals, e.g. name: files)")
            return nil
        }
        guard let name = text(nameField.value, what: "step '\(agentID)': an mcp server's 'name'") else { return nil }
        guard AgentJournalID.isSafe(name) else {
            error(nameField.value, "step '\(agentID)': mcp server name '\(name)' may use only letters, digits, '_' and '-' (at most 64)")
            return nil
        }
        let context = "mcp server '\(name)' of step '\(agentID)'"
        var ok = true

        let transport: MCPTransportDefinition?
        switch (f["command"], f["url"]) {
        case (let c?, nil):
            transport = readMCPCommand(c.value, context: context).map { .stdio(command: $0) }
        case (nil, let u?):
            let firstSite = sites.count
            var headers: [HTTPField] = []
            if let h = f["headers"] {
                if let read = readHTTPFields(h.value, what: "\(context): 'headers'", example: "{Authorization: \"Bearer {{secrets.TOKEN}}\"}",
                                             headerNames: true) { headers = read } else { ok = false }
            }
            let url = template(u.value, what: "\(context): 'url'")
            if let url, url.isConstant {
                let parts = URLComponents(string: url.source)
                if parts?.scheme.map({ ["http", "https"].contains($0.lowercased()) }) != true || (parts?.host ?? "").isEmpty {
                    error(u.value, "\(context): 'url' must be an absolute http:// or https:// URL such as https://mcp.example.com/mcp, not '\(url.source)'")
                    ok = false
                }
            }
            // The request to the server may carry a secret, like an http step's request.
            for index in firstSite..<sites.count { sites[index].allowsSecrets = true }
            transport = url.map { .http(url: $0, headers: headers) }
        case (_?, _?):
            error(f["url"]!.key, "\(context): give 'command' (a stdio server started in the sandbox) or 'url' (a Streamable HTTP server), not both")
            return nil
        case (nil, nil):
            error(node, "\(context) is missing 'command' (argv of a stdio server, e.g. [python3, server.py]) or 'url' (a Streamable HTTP server)")
            return nil
        }
        if case .stdio? = transport, let h = f["headers"] {
            error(h.key, "\(context): 'headers' are for a 'url' server; a stdio server gets 'env'")
            ok = false
        }
        if case .http? = transport {
            for field in ["read_only", "env", "network", "limits"] where f[field] != nil {
                error(f[field]!.key, "\(context): '\(field)' is for a stdio server ('command'); a 'url' server runs elsewhere and is reached under the workflow's egress")
                ok = false
            }
        }

        var readOnly: [Template] = []
        if let r = f["read_only"] {
            if case .sequence(let sequence) = r.value {
                for item in sequence {
                    guard let path = template(item, what: "\(context): each item of 'read_only'") else { ok = false; continue }
                    if path.isConstant, !path.source.hasPrefix("/") {
                        error(item, "\(context): 'read_only' holds '\(path.source)', not an absolute path")
                        ok = false
                    }
                    readOnly.append(path)
                }
            } else {
                error(r.value, "\(context): 'read_only' must be a list of absolute paths the server may read, such as [\"/opt/venv\", \"/opt/servers\"]")
                ok = false
            }
        }
        var environment: [SandboxEnvironmentVariable] = []
        if let e = f["env"] {
            let firstSite = sites.count
            if let read = readSandboxEnvironment(e.value, step: context) { environment = read } else { ok = false }
            // A server is given a secret only where the workflow names it: {TOKEN: "{{secrets.TOKEN}}"}.
            for index in firstSite..<sites.count { sites[index].allowsSecrets = true }
        }
        var network = SandboxNetwork.off
        if let n = f["network"] {
            if let read = readMCPNetwork(n.value, context: context) { network = read } else { ok = false }
        }
        var limits = SandboxLimits()
        if let l = f["limits"] {
            if let read = readSandboxLimits(l.value, step: context) { limits = read } else { ok = false }
        }
        var allowed: [String]?
        if let t = f["tools"] {
            if let list = textList(t.value, what: "\(context): 'tools'"), !list.isEmpty { allowed = list } else {
                error(t.value, "\(context): 'tools' must be a non-empty list of the server's tool names (wflo mcp tools FILE STEP lists them)")
                ok = false
            }
        }
        var approval = MCPApproval.none
        if let a = f["approval"] {
            if let read = readMCPApproval(a.value, context: context, allowed: allowed) { approval = read } else { ok = false }
        }
        var price = MCPPrice.free
        if let p = f["price_per_call"] {
            if let read = readMCPPrice(p.value, context: context, allowed: allowed) { price = read } else { ok = false }
        }
        var costFromServer = false
        if let c = f["cost_from"] {
            switch c.value.scalar?.string {
            case "server": costFromServer = true
            case "price": costFromServer = false
            default:
                error(c.value, "\(context): 'cost_from' must be server (the cost the server reports in the result's _meta) or price (price_per_call), not \(shown(c.value))")
                ok = false
            }
            if costFromServer, case .free = price {
                error(c.value, "\(context): 'cost_from: server' needs a 'price_per_call': it is reserved before each call, and the server's reported cost is charged against it")
                ok = false
            }
        }
        var prefix = ""
        if let p = f["prefix"] {
            if let text = text(p.value, what: "\(context): 'prefix'"),
               text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) {
                prefix = text
            } else {
                error(p.value, "\(context): 'prefix' may use only letters, digits, '_' and '-' (it becomes part of the tool names the model sees)")
                ok = false
            }
        }
        var timeout: Double?
        if let t = f["timeout"] {
            timeout = duration(t.value, what: "\(context): 'timeout'", allowZero: false)
            ok = ok && timeout != nil
        }
        var retry: RetryPolicy?
        if let r = f["retry"] {
            retry = readRetry(r.value, stepID: context)
            ok = ok && retry != nil
        }
        guard ok, let transport else { return nil }
        var server = MCPServerDefinition(name: name, transport: transport, readOnly: readOnly, environment: environment, network: network,
                                   limits: limits, allowedTools: allowed, approval: approval, price: price, costFromServer: costFromServer,
                                   prefix: prefix, timeout: timeout)
        server.retry = retry
        return server
    }

    private mutating func readMCPCommand(_ node: Node, context: String) -> [Template]? {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            error(node, "\(context): 'command' must be a non-empty list, the server's argv, such as [\"/opt/venv/bin/python\", \"server.py\"]")
            return nil
        }
        var command: [Template] = []
        for item in sequence {
            guard let t = template(item, what: "\(context): each item of 'command'") else { return nil }
            command.append(t)
        }
        return command
    }

    /// `network: off` (default) | `any` | `[ports]` (TCP connect), or a sandbox step's spelling.
    private mutating func readMCPNetwork(_ node: Node, context: String) -> SandboxNetwork? {
        if case .scalar(let scalar) = node {
            switch scalar.string {
            case "off", "false", "none": return .off
            case "any", "true", "on": return .any
            default: break
            }
        }
        if case .sequence(let sequence) = node {
            var ports: [Int] = []
            for item in sequence {
                if case .scalar(let s) = item, let n = Int(s.string), (1...65535).contains(n) { ports.append(n) } else {
                    error(item, "\(context): 'network' holds \(shown(item)), not a TCP port (1–65535)")
                    return nil
                }
            }
            if ports.isEmpty {
                error(node, "\(context): 'network' lists no port; write network: off for none")
                return nil
            }
            return .tcp(connect: ports, bind: [])
        }
        if case .mapping = node { return readSandboxNetwork(node, step: context) }
        error(node, "\(context): 'network' must be off (no sockets), any, or a list of TCP ports it may connect to, such as [443], not \(shown(node))")
        return nil
    }

    /// `approval: required`, approval settings, or per tool: `{write_file: required}`.
    private mutating func readMCPApproval(_ node: Node, context: String, allowed: [String]?) -> MCPApproval? {
        if case .scalar(let scalar) = node, scalar.string == "required" { return .all(ApprovalSettings()) }
        guard case .mapping(let mapping) = node else {
            error(node, "\(context): 'approval' must be `required` or a mapping of tool name to `required`, such as {write_file: required}, not \(shown(node))")
            return nil
        }
        let keys = mapping.map { $0.key.string ?? "" }
        if keys.allSatisfy(Self.approvalSettingsFields.contains) {
            return readApprovalSettings(node, allowed: Self.approvalSettingsFields, context: "\(context): 'approval'").map { .all($0) }
        }
        var tools: [String: ApprovalSettings] = [:]
        for (key, value) in mapping {
            let tool = key.string ?? ""
            if let allowed, !allowed.contains(tool) {
                error(key, "\(context): 'approval' names tool '\(tool)', which 'tools' does not allow" + Suggestion.phrase(for: tool, in: allowed))
                return nil
            }
            guard let settings = readGate(value, stepID: "\(context) tool \(tool)") else { return nil }
            tools[tool] = settings
        }
        return .perTool(tools)
    }

    /// `price_per_call: 0.002`, or per tool: `{search: 0.01, default: 0.001}`.
    private mutating func readMCPPrice(_ node: Node, context: String, allowed: [String]?) -> MCPPrice? {
        func amount(_ value: Node, what: String) -> Money? {
            if case .scalar(let scalar) = value, let money = Money(string: scalar.string), !money.isNegative { return money }
            error(value, "\(context): \(what) must be an amount in USD such as 0.002, not \(shown(value))")
            return nil
        }
        if case .scalar = node { return amount(node, what: "'price_per_call'").map { $0.isZero ? .free : .flat($0) } }
        guard case .mapping(let mapping) = node else {
            error(node, "\(context): 'price_per_call' must be an amount in USD such as 0.002, or a mapping of tool name to amount, not \(shown(node))")
            return nil
        }
        var tools: [String: Money] = [:]
        var otherwise: Money?
        for (key, value) in mapping {
            let tool = key.string ?? ""
            guard let money = amount(value, what: "'price_per_call' of '\(tool)'") else { return nil }
            if tool == "default" { otherwise = money; continue }
            if let allowed, !allowed.contains(tool) {
                error(key, "\(context): 'price_per_call' names tool '\(tool)', which 'tools' does not allow" + Suggestion.phrase(for: tool, in: allowed))
                return nil
            }
            tools[tool] = money
        }
        return .perTool(tools, otherwise: otherwise)
    }
}
