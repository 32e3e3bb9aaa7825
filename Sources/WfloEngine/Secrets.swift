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
/// The rule: a secret is masked in every encoding wflo itself produces and the usual ones a
/// server echoes it back in — ``forms(of:)``: the value as is; percent-encoded as each URL
/// component encodes it (wflo's `query:` encoding, path, user, password, host, fragment; upper-
/// and lower-case hex); form-encoded (space as `+`); JSON-escaped (also with `\/`); and base64
/// (standard and URL-safe, at each of the three byte alignments it can have inside a longer
/// base64 text such as `Basic user:secret`). Longer forms are replaced first, so a secret that
/// contains another is masked whole. Everything wflo journals, prints or reports goes through
/// ``redact(_:)-(String)`` after rendering, on the bytes as sent and received.
public struct Redactor: Sendable {
    private let needles: [(text: String, marker: String)]

    public init(secrets: [String: String]) {
        var needles: [(String, String)] = []
        for (name, value) in secrets where !value.isEmpty {
            let marker = Self.marker(name)
            for form in Self.forms(of: value) { needles.append((form, marker)) }
        }
        self.needles = needles.sorted { ($0.0.count, $0.0) > ($1.0.count, $1.0) }
    }

    /// RFC 3986's unreserved characters: what wflo leaves as is in a `query:` name or value.
    public static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A `query:` name or value as wflo sends it: every byte but the unreserved ones percent-encoded.
    public static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// Every text `value` can appear as in what wflo sends, receives and writes (see the type's rule).
    public static func forms(of value: String) -> Set<String> {
        var forms: Set<String> = [value]
        let sets: [CharacterSet] = [unreserved, .alphanumerics, .urlQueryAllowed, .urlPathAllowed, .urlUserAllowed,
                                    .urlPasswordAllowed, .urlHostAllowed, .urlFragmentAllowed]
        for set in sets {
            guard let encoded = value.addingPercentEncoding(withAllowedCharacters: set) else { continue }
            forms.insert(encoded)
            forms.insert(lowercasingHex(encoded))
        }
        // application/x-www-form-urlencoded: space as '+', '*' left as is or encoded.
        for extra in [" ", " *"] {
            guard let form = value.addingPercentEncoding(withAllowedCharacters: unreserved.union(CharacterSet(charactersIn: extra))) else { continue }
            let plus = form.replacingOccurrences(of: " ", with: "+")
            forms.insert(plus)
            forms.insert(lowercasingHex(plus))
        }
        let escaped = String(JSONValue.string(value).encoded().dropFirst().dropLast())
        forms.insert(escaped)
        forms.insert(escaped.replacingOccurrences(of: "/", with: "\\/"))
        forms.formUnion(base64Forms(of: Array(value.utf8)))
        return forms.filter { !$0.isEmpty }
    }

    /// `%2f` for `%2F`: the same bytes, as a server may echo them.
    private static func lowercasingHex(_ text: String) -> String {
        var out = ""
        var pending = 0
        for character in text {
            if character == "%" { pending = 2; out.append(character); continue }
            if pending > 0 { pending -= 1; out += character.lowercased(); continue }
            out.append(character)
        }
        return out
    }

    /// The base64 characters that `bytes` alone decide, wherever they start inside a longer
    /// base64 text (offset 0, 1 or 2 modulo 3), standard and URL-safe. Forms shorter than 8
    /// characters are left out: they say little about the secret and would mask ordinary text.
    private static func base64Forms(of bytes: [UInt8]) -> Set<String> {
        var forms: Set<String> = []
        for offset in 0..<3 {
            let encoded = Array((Data(repeating: 0, count: offset) + Data(bytes)).base64EncodedString().utf8)
            // Character i covers bits 6i..<6i+6; the secret's bits are 8*offset..<8*(offset+count).
            let first = (8 * offset + 5) / 6
            let end = (8 * (offset + bytes.count)) / 6
            guard end - first >= 8, end <= encoded.count else { continue }
            let stable = String(decoding: encoded[first..<end], as: UTF8.self)
            forms.insert(stable)
            forms.insert(stable.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
        }
        return forms
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

    /// The start of `bytes` as text for a message: masked whole first, then cut to `limit`
    /// characters (with `…` when cut), so a cut can never leave part of a secret in clear.
    public func excerpt(_ bytes: [UInt8], limit: Int) -> String {
        let text = redact(String(decoding: bytes, as: UTF8.self)).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count > limit else { return text }
        return String(text.prefix(limit)) + "…"
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
