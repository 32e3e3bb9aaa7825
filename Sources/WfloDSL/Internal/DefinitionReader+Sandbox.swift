import Foundation
import WfloCore

extension DefinitionReader {
    static let sandboxFields = ["language", "command", "code", "script", "stdin", "files", "outputs", "env", "limits", "network",
                                "backend", "allow_missing"]
    static let sandboxLimitFields = ["wall", "cpu", "memory", "output", "processes", "file_size", "open_files"]
    static let sandboxNetworkFields = ["connect", "bind"]

    /// A `sandbox` step: `language` with `code` (templated) or `script` (a file read now,
    /// relative to the workflow's folder), or `command` (an argv list).
    mutating func readSandbox(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        var ok = true
        let step = "step '\(id)'"
        var language: SandboxLanguage?
        if let l = f["language"] {
            let allowed = SandboxLanguage.allCases.map(\.rawValue)
            if let text = text(l.value, what: "\(step): 'language'") {
                language = SandboxLanguage(rawValue: text)
                if language == nil {
                    error(l.value, "\(step): unknown language '\(text)'; write one of \(allowed.joined(separator: ", ")), or give 'command' (an argv list) instead"
                          + Suggestion.phrase(for: text, in: allowed))
                    ok = false
                }
            } else { ok = false }
        }
        var command: [Template]?
        if let c = f["command"] {
            if f["language"] != nil {
                error(c.key, "\(step): use either 'language' (with 'code' or 'script') or 'command' (an argv list), not both")
                ok = false
            }
            switch c.value {
            case .sequence(let items) where !items.isEmpty:
                var argv: [Template] = []
                for item in items {
                    guard case .scalar(let scalar) = item, !YAMLValue.isNull(scalar) else {
                        error(item, "\(step): each item of 'command' must be text, not \(shown(item))")
                        ok = false
                        continue
                    }
                    if let t = parseTemplate(scalar.string, node: item) { argv.append(t) } else { ok = false }
                }
                command = argv
            case .scalar:
                error(c.value, "\(step): 'command' must be a list such as [python3, tool.py, --flag] (it is not run by a shell); "
                      + "for a shell line write language: bash with code")
                ok = false
            default:
                error(c.value, "\(step): 'command' must be a non-empty list such as [python3, tool.py, --flag], not \(shown(c.value))")
                ok = false
            }
        }
        if f["language"] == nil && f["command"] == nil {
            error(node, "\(step) needs 'language' (\(SandboxLanguage.allCases.map(\.rawValue).joined(separator: ", "))) with 'code' or 'script', "
                  + "or 'command' (an argv list)")
            ok = false
        }

        var code: Template?
        var scriptPath: String?
        if let c = f["code"], let s = f["script"] {
            error(s.key, "\(step): use either 'code' (the program's text) or 'script' (a file), not both (code is on line \(c.key.mark?.line ?? 1))")
            ok = false
        } else if let c = f["code"] {
            code = template(c.value, what: "\(step): 'code'")
            ok = ok && code != nil
        } else if let s = f["script"] {
            if let path = text(s.value, what: "\(step): 'script'") {
                scriptPath = path
                if let contents = readScript(path, at: s.value, step: step) { code = Template(literal: contents) } else { ok = false }
            } else { ok = false }
        }
        if code != nil, f["command"] != nil, f["language"] == nil {
            error(f["code"]?.key ?? f["script"]?.key, "\(step): 'code' and 'script' need 'language' (the interpreter that runs them); "
                  + "with 'command', place files with 'files:'")
            ok = false
        }
        if f["language"] != nil, f["code"] == nil, f["script"] == nil {
            error(node, "\(step): 'language' needs 'code' (the program's text) or 'script' (a file relative to the workflow)")
            ok = false
        }

        var stdin: Template?
        if let s = f["stdin"] {
            stdin = template(s.value, what: "\(step): 'stdin'")
            ok = ok && stdin != nil
        }
        var files: [SandboxFileTemplate] = []
        if let fl = f["files"] {
            if let list = readSandboxFiles(fl.value, step: step, mainFile: language?.mainFile) { files = list } else { ok = false }
        }
        var outputs: [String] = []
        if let o = f["outputs"] {
            if let list = textList(o.value, what: "\(step): 'outputs'") {
                for path in list {
                    if let problem = Self.scratchPathProblem(path) {
                        error(o.value, "\(step): 'outputs': \(problem)")
                        ok = false
                    }
                }
                outputs = list
            } else { ok = false }
        }
        var environment: [SandboxEnvironmentVariable] = []
        if let e = f["env"] {
            if let list = readSandboxEnvironment(e.value, step: step) { environment = list } else { ok = false }
        }
        var limits = SandboxLimits()
        if let l = f["limits"] {
            if let read = readSandboxLimits(l.value, step: step) { limits = read } else { ok = false }
        }
        var network = SandboxNetwork.off
        if let n = f["network"] {
            if let read = readSandboxNetwork(n.value, step: step) { network = read } else { ok = false }
        }
        var backend = SandboxBackendChoice.process
        if let b = f["backend"] {
            let allowed = SandboxBackendChoice.allCases.map(\.rawValue)
            if let text = text(b.value, what: "\(step): 'backend'") {
                if let choice = SandboxBackendChoice(rawValue: text) { backend = choice } else {
                    error(b.value, "\(step): unknown backend '\(text)'; write one of \(allowed.joined(separator: ", "))" + Suggestion.phrase(for: text, in: allowed))
                    ok = false
                }
            } else { ok = false }
        }
        var allowMissing: [SandboxLayer] = []
        if let a = f["allow_missing"] {
            let allowed = SandboxLayer.allCases.map(\.rawValue)
            if let list = textList(a.value, what: "\(step): 'allow_missing'") {
                for name in list {
                    if let layer = SandboxLayer(rawValue: name) { allowMissing.append(layer) } else {
                        error(a.value, "\(step): 'allow_missing': unknown layer '\(name)'; the layers are \(allowed.joined(separator: ", "))"
                              + Suggestion.phrase(for: name, in: allowed))
                        ok = false
                    }
                }
            } else { ok = false }
        }
        guard ok else { return nil }
        return .sandbox(SandboxStepDefinition(language: language, command: command, code: code, scriptPath: scriptPath, stdin: stdin,
                                              files: files, outputs: outputs, environment: environment, limits: limits, network: network,
                                              backend: backend, allowMissing: allowMissing))
    }

    static func scratchPathProblem(_ path: String) -> String? { SandboxStepDefinition.pathProblem(path) }

    /// `script:` read relative to the workflow file's folder.
    mutating func readScript(_ path: String, at node: Node, step: String) -> String? {
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            error(node, "\(step): cannot read the script \(url.path) ('script' is relative to the workflow file's folder); check that it exists")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            error(node, "\(step): the script \(url.path) is not UTF-8 text")
            return nil
        }
        return text
    }

    /// `files: {PATH: text}`.
    mutating func readSandboxFiles(_ node: Node, step: String, mainFile: String?) -> [SandboxFileTemplate]? {
        guard case .mapping(let mapping) = node else {
            error(node, "\(step): 'files' must be a mapping of PATH: text, such as {data/input.csv: \"{{steps.fetch.output.body}}\"}")
            return nil
        }
        var files: [SandboxFileTemplate] = []
        var ok = true
        for (key, value) in mapping {
            let path = key.string ?? ""
            if let problem = Self.scratchPathProblem(path) {
                error(key, "\(step): 'files': \(problem)")
                ok = false
                continue
            }
            if path == mainFile {
                error(key, "\(step): 'files': \(path) is where 'code' is written for this language; choose another name")
                ok = false
                continue
            }
            guard case .scalar(let scalar) = value, !YAMLValue.isNull(scalar) else {
                error(value, "\(step): 'files': '\(path)' must have text content, not \(YAMLValue.isNullNode(value) ? "empty" : shown(value))")
                ok = false
                continue
            }
            if let t = parseTemplate(scalar.string, node: value) { files.append(SandboxFileTemplate(path: path, content: t)) } else { ok = false }
        }
        return ok ? files : nil
    }

    /// `env: {NAME: value}`: the program's environment (nothing else is inherited).
    mutating func readSandboxEnvironment(_ node: Node, step: String) -> [SandboxEnvironmentVariable]? {
        guard case .mapping(let mapping) = node else {
            error(node, "\(step): 'env' must be a mapping of NAME: value, such as {MODE: fast, TOPIC: \"{{inputs.topic}}\"}")
            return nil
        }
        var list: [SandboxEnvironmentVariable] = []
        var ok = true
        for (key, value) in mapping {
            let name = key.string ?? ""
            let valid = !name.isEmpty && name.unicodeScalars.first.map { !("0"..."9").contains($0) } == true
                && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
            if !valid {
                error(key, "\(step): 'env': '\(name)' is not a variable name (letters, digits and '_', not starting with a digit)")
                ok = false
                continue
            }
            guard case .scalar(let scalar) = value, !YAMLValue.isNull(scalar) else {
                error(value, "\(step): 'env': '\(name)' must have a text value, not \(YAMLValue.isNullNode(value) ? "empty" : shown(value))")
                ok = false
                continue
            }
            if let t = parseTemplate(scalar.string, node: value) { list.append(SandboxEnvironmentVariable(name: name, value: t)) } else { ok = false }
        }
        return ok ? list : nil
    }

    /// `limits: {wall: 5s, cpu: 2s, memory: 256MiB, output: 64KiB, processes: 16, file_size: 1MiB, open_files: 64}`.
    mutating func readSandboxLimits(_ node: Node, step: String) -> SandboxLimits? {
        guard case .mapping = node else {
            error(node, "\(step): 'limits' must be a mapping of \(Self.sandboxLimitFields.joined(separator: ", ")), such as {wall: 5s, memory: 256MiB, output: 64KiB}")
            return nil
        }
        let context = "\(step): 'limits'"
        let f = fields(node, allowed: Self.sandboxLimitFields, context: context)
        var limits = SandboxLimits()
        var ok = true
        func size(_ name: String) -> Int? {
            guard let v = f[name] else { return nil }
            if case .scalar(let s) = v.value, let n = Self.byteCount(s.string) { return n }
            error(v.value, "\(context): '\(name)' must be a size above zero such as 65536, 64KiB, 256MiB or 1GiB, not \(shown(v.value))")
            ok = false
            return nil
        }
        if let v = f["wall"] {
            limits.wall = duration(v.value, what: "\(context): 'wall'", allowZero: false)
            ok = ok && limits.wall != nil
        }
        if let v = f["cpu"] {
            limits.cpu = duration(v.value, what: "\(context): 'cpu'", allowZero: false)
            ok = ok && limits.cpu != nil
        }
        limits.memory = size("memory")
        limits.output = size("output")
        limits.fileSize = size("file_size")
        if let v = f["processes"] {
            limits.processes = positiveInt(v.value, what: "\(context): 'processes'", why: " (processes and threads at once)")
            ok = ok && limits.processes != nil
        }
        if let v = f["open_files"] {
            limits.openFiles = positiveInt(v.value, what: "\(context): 'open_files'")
            ok = ok && limits.openFiles != nil
            if let n = limits.openFiles, n < 8 {
                error(v.value, "\(context): 'open_files' must be at least 8 (stdin, stdout, stderr and the interpreter's own files), not \(n)")
                ok = false
            }
        }
        if let memory = limits.memory, memory < 16 << 20, let v = f["memory"] {
            error(v.value, "\(context): 'memory' must be at least 16MiB (an interpreter needs that much to start), not \(shown(v.value))")
            ok = false
        }
        return ok ? limits : nil
    }

    /// `network: false` (default), `true`, or `{connect: [443], bind: [8080]}` (TCP ports only).
    mutating func readSandboxNetwork(_ node: Node, step: String) -> SandboxNetwork? {
        let hint = "false (no sockets), true (any), or a TCP port allowlist such as {connect: [443, 8080]}"
        if case .bool(let flag) = YAMLValue.convert(node) { return flag ? .any : .off }
        guard case .mapping = node else {
            error(node, "\(step): 'network' must be \(hint), not \(shown(node))")
            return nil
        }
        let f = fields(node, allowed: Self.sandboxNetworkFields, context: "\(step): 'network'")
        var ok = true
        func ports(_ name: String) -> [Int] {
            guard let field = f[name] else { return [] }
            let items: [Node]
            switch field.value {
            case .scalar: items = [field.value]
            case .sequence(let sequence): items = Array(sequence)
            default:
                error(field.value, "\(step): 'network': '\(name)' must be a port or a list of ports (1–65535)")
                ok = false
                return []
            }
            var list: [Int] = []
            for item in items {
                if case .scalar(let s) = item, s.style == .plain, let n = Int(s.string), (1...65535).contains(n) { list.append(n) } else {
                    error(item, "\(step): 'network': '\(name)' holds \(shown(item)), not a TCP port (1–65535); hosts cannot be listed (the sandbox filters ports, not names)")
                    ok = false
                }
            }
            return list
        }
        let connect = ports("connect")
        let bind = ports("bind")
        if ok, connect.isEmpty, bind.isEmpty {
            error(node, "\(step): 'network' lists no port; write network: false for none, or {connect: [443]}")
            return nil
        }
        return ok ? .tcp(connect: connect, bind: bind) : nil
    }
}
