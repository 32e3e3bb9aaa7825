import Foundation
import WfloCore

/// The secrets `{{secrets.NAME}}` reads, resolved at run time and never stored (invariant 6).
///
/// `NAME` comes from the environment variable `WFLO_SECRET_NAME` (so a workflow cannot read
/// arbitrary environment variables; an empty one counts as unset), else from the secrets file (`~/.wflo/secrets`): lines of
/// `NAME=value`, `#` comments and blank lines allowed, the value taken as written after `=`
/// (surrounding quotes removed). The file must be readable by its owner only (mode 0600 or
/// stricter); a file that group or others can read is not read at all, and asking for a secret
/// it would hold fails with the `chmod` to run.
///
/// ```swift
/// let secrets = SecretStore(environment: ProcessInfo.processInfo.environment,
///                           filePath: SecretStore.defaultPath(environment: ProcessInfo.processInfo.environment))
/// let token = try secrets.value("API_TOKEN")   // WFLO_SECRET_API_TOKEN, else API_TOKEN=… in the file
/// secrets.redactor.redact("Bearer \(token)")    // "Bearer [secret:API_TOKEN]"
/// ```
public struct SecretStore: Sendable {
    public static let environmentPrefix = "WFLO_SECRET_"

    private let fromEnvironment: [String: String]
    private let fromFile: [String: String]
    /// Why the file's secrets are not available (insecure mode, unreadable, malformed), if so.
    private let fileProblem: String?
    public let filePath: String?
    /// Masks every value this store knows, wherever it appears.
    public let redactor: Redactor

    /// No secrets: every `{{secrets.NAME}}` fails naming where it could come from.
    public static let empty = SecretStore(environment: [:], filePath: nil)

    /// `~/.wflo/secrets` (HOME from `environment`).
    public static func defaultPath(environment: [String: String]) -> String {
        let home = environment["HOME"] ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".wflo/secrets")
    }

    /// Reads the `WFLO_SECRET_*` variables of `environment` and the file at `filePath` (when it
    /// exists). Never throws: a problem with the file is reported when a secret is asked for.
    public init(environment: [String: String], filePath: String?) {
        var env: [String: String] = [:]
        for (key, value) in environment where key.hasPrefix(Self.environmentPrefix) && key.count > Self.environmentPrefix.count && !value.isEmpty {
            env[String(key.dropFirst(Self.environmentPrefix.count))] = value
        }
        fromEnvironment = env
        self.filePath = filePath
        var file: [String: String] = [:]
        var problem: String?
        if let filePath, FileManager.default.fileExists(atPath: filePath) {
            (file, problem) = Self.readFile(filePath)
        }
        fromFile = file
        fileProblem = problem
        redactor = Redactor(secrets: file.merging(env) { _, environment in environment })
    }

    /// The value of secret `name`.
    /// - Throws: ``EngineError`` `.configuration` naming the secret and both places it can come
    ///   from, or the secrets file's problem (e.g. its mode lets others read it).
    public func value(_ name: String) throws -> String {
        if let value = fromEnvironment[name] { return value }
        if let value = fromFile[name] { return value }
        let where_ = filePath ?? "~/.wflo/secrets"
        if let fileProblem {
            throw EngineError(.configuration, "secret '\(name)' is not in the environment (\(Self.environmentPrefix)\(name)), and \(fileProblem)")
        }
        throw EngineError(.configuration, "secret '\(name)' is not set: export \(Self.environmentPrefix)\(name)=… or add the line \(name)=… to \(where_) (mode 0600)")
    }

    static func readFile(_ path: String) -> ([String: String], String?) {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
            if mode & 0o077 != 0 {
                return ([:], "the secrets file \(path) is not read because group or others may read it (mode \(String(mode & 0o777, radix: 8))); run `chmod 600 \(path)`")
            }
            let text = try String(contentsOfFile: path, encoding: .utf8)
            var values: [String: String] = [:]
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let equals = line.firstIndex(of: "=") else {
                    return ([:], "the secrets file \(path) has a line without '=' (line \(index + 1)); write NAME=value")
                }
                let name = line[..<equals].trimmingCharacters(in: .whitespaces)
                var value = String(line[line.index(after: equals)...])
                if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                    value = String(value.dropFirst().dropLast())
                }
                guard !name.isEmpty else { return ([:], "the secrets file \(path) has a line with no name (line \(index + 1)); write NAME=value") }
                values[name] = value
            }
            return (values, nil)
        } catch {
            return ([:], "the secrets file \(path) cannot be read (\(error.localizedDescription))")
        }
    }
}

/// Replaces secret values with `[secret:NAME]` in text and JSON: the one place masking is done.
///
/// Besides the value as is, its percent-encoded form (as it appears in a URL) and its JSON-escaped
/// form (as it appears in a JSON text) are masked. Longer values are replaced first, so a secret
/// that contains another is masked whole.
public struct Redactor: Sendable {
    private let needles: [(text: String, marker: String)]

    public init(secrets: [String: String]) {
        var needles: [(String, String)] = []
        for (name, value) in secrets where !value.isEmpty {
            let marker = Self.marker(name)
            var forms: Set<String> = [value]
            if let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) { forms.insert(encoded) }
            if let encoded = value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) { forms.insert(encoded) }
            let escaped = JSONValue.string(value).encoded()
            forms.insert(String(escaped.dropFirst().dropLast()))
            for form in forms where !form.isEmpty { needles.append((form, marker)) }
        }
        self.needles = needles.sorted { ($0.0.count, $0.0) > ($1.0.count, $1.0) }
    }

    /// What stands for secret `name` in everything wflo writes.
    public static func marker(_ name: String) -> String { "[secret:\(name)]" }

    public var isEmpty: Bool { needles.isEmpty }

    public func redact(_ text: String) -> String {
        var out = text
        for needle in needles where out.contains(needle.text) {
            out = out.replacingOccurrences(of: needle.text, with: needle.marker)
        }
        return out
    }

    /// Masks every string and object key in `value`.
    public func redact(_ value: JSONValue) -> JSONValue {
        if needles.isEmpty { return value }
        switch value {
        case .string(let s): return .string(redact(s))
        case .array(let items): return .array(items.map(redact))
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, item) in object { out[redact(key)] = redact(item) }
            return .object(out)
        case .null, .bool, .number: return value
        }
    }
}
