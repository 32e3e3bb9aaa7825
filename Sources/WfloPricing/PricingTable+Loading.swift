import Foundation
import WfloCore

extension PricingTable {
    /// The file name of the shipped table inside `pricing/`.
    public static let shippedFileName = "model_prices_and_context_window.json"

    /// Reads a LiteLLM-format table file.
    ///
    /// Only the file's top level is read here: each model's entry is parsed and checked the first
    /// time it is used (``price(for:)``, ``cost(model:usage:searchContextSize:)``, layering an
    /// overlay on it, ``models``), with the same checks and messages as ``init(json:source:)``.
    /// A command that calls no model decodes none of the shipped table's 4,500 entries.
    /// - Throws: ``PricingError`` (`unreadableTable`) naming the file when it is missing or its
    ///   top level is not a JSON object; a malformed entry throws `malformedEntry` when it is used.
    public static func read(path: String) throws -> PricingTable {
        let data = try readFile(path)
        return try PricingTable(data: data, source: path)
    }

    /// A table over a file's text whose entries are decoded on first use; see ``read(path:)``.
    init(data: Data, source: String) throws {
        guard let lazy = LazyEntries.index(data, source: source) else {
            self = try PricingTable(json: PricingTable.parseData(data, path: source), source: source)
            return
        }
        entries = [:]
        lazyEntries = lazy
        sources = [source]
    }

    /// This table with the models of a JSON file layered on top.
    /// - Throws: ``PricingError`` naming the file.
    public func layered(withFile path: String) throws -> PricingTable {
        try layered(with: PricingTable.parseFile(path), source: path)
    }

    static func parseFile(_ path: String) throws -> JSONValue {
        try parseData(readFile(path), path: path)
    }

    static func readFile(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PricingError(.unreadableTable, "cannot read the pricing file '\(path)' (missing or not readable)")
        }
        return data
    }

    static func parseData(_ data: Data, path: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(data)
        } catch {
            throw PricingError(.unreadableTable, "the pricing file '\(path)' is not valid JSON: \(error)")
        }
    }

    /// Loads the shipped table, then layers the files named in `WFLO_PRICING` (colon-separated),
    /// then `overlays` (e.g. `--pricing FILE`), later layers winning.
    ///
    /// The shipped table is the file `WFLO_PRICING_TABLE` names when it is set; otherwise
    /// `share/wflo/pricing/model_prices_and_context_window.json` beside the executable's folder
    /// (where `scripts/install.sh PREFIX` puts it: `PREFIX/bin/wflo`, `PREFIX/share/wflo/pricing/`),
    /// else `pricing/…` found by walking up from the running executable's folder (the binary
    /// lives in `.build/debug` inside the repository), then from the current folder.
    /// - Throws: ``PricingError`` (`unreadableTable`) when the shipped table cannot be found or read,
    ///   or an overlay is missing or not JSON; `malformedEntry` for a bad entry.
    public static func load(overlays: [String] = [], environment: [String: String]) throws -> PricingTable {
        guard let shipped = shippedTablePath(environment: environment) else {
            throw PricingError(.unreadableTable, """
                cannot find pricing/\(shippedFileName) (looked in ../share/wflo/pricing beside the wflo executable's \
                folder, where scripts/install.sh puts it, and in the folders above the executable and above the current \
                folder); set WFLO_PRICING_TABLE to its path
                """)
        }
        var table = try read(path: shipped)
        let extra = (environment["WFLO_PRICING"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        for path in extra + overlays {
            table = try table.layered(withFile: path)
        }
        return table
    }

    /// The shipped table in use: `WFLO_PRICING_TABLE`, else ``locateShippedTable(currentDirectory:executable:)``.
    static func shippedTablePath(environment: [String: String]) -> String? {
        if let path = environment["WFLO_PRICING_TABLE"], !path.isEmpty { return path }
        return locateShippedTable(currentDirectory: FileManager.default.currentDirectoryPath)
    }

    /// The shipped table's path: installed beside the executable (`../share/wflo/pricing/`), else
    /// walking up from the executable's folder, then from `currentDirectory`.
    static func locateShippedTable(currentDirectory: String, executable: URL? = nil) -> String? {
        var starts: [URL] = []
        if let executable = executable ?? Bundle.main.executableURL ?? CommandLine.arguments.first.map({ URL(fileURLWithPath: $0) }) {
            let folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
            let installed = folder.deletingLastPathComponent().appendingPathComponent("share/wflo/pricing")
                .appendingPathComponent(shippedFileName).path
            if FileManager.default.fileExists(atPath: installed) { return installed }
            starts.append(folder)
        }
        starts.append(URL(fileURLWithPath: currentDirectory))
        for start in starts {
            if let found = findUpwards(from: start) { return found }
        }
        return nil
    }

    static func findUpwards(from start: URL) -> String? {
        var folder = start.standardizedFileURL
        while true {
            let candidate = folder.appendingPathComponent("pricing").appendingPathComponent(shippedFileName).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            let parent = folder.deletingLastPathComponent().standardizedFileURL
            if parent.path == folder.path { return nil }
            folder = parent
        }
    }

    /// Where the shipped table comes from, for `wflo --version`: its path and, from the
    /// `SOURCE.json` beside it, the package version and date it was taken from.
    public static func shippedTableOrigin(environment: [String: String]) -> String {
        guard let path = shippedTablePath(environment: environment) else {
            return "pricing table not found (set WFLO_PRICING_TABLE, or install with scripts/install.sh)"
        }
        let source = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("SOURCE.json").path
        guard let data = FileManager.default.contents(atPath: source), let json = try? JSONValue.parse(data) else { return path }
        var parts: [String] = []
        if let package = json["package"]?.stringValue, let version = json["version"]?.stringValue { parts.append("\(package) \(version)") }
        if let date = json["generated_at"]?.stringValue { parts.append("taken \(date)") }
        if let entries = json["entries"]?.intValue { parts.append("\(entries) models") }
        return parts.isEmpty ? path : "\(path) (\(parts.joined(separator: ", ")))"
    }
}
