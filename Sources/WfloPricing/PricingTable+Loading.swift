import Foundation
import WfloCore

extension PricingTable {
    /// The file name of the shipped table inside `pricing/`.
    public static let shippedFileName = "model_prices_and_context_window.json"

    /// Reads a LiteLLM-format table file.
    /// - Throws: ``PricingError`` (`unreadableTable`) naming the file, or `malformedEntry`.
    public static func read(path: String) throws -> PricingTable {
        try PricingTable(json: parseFile(path), source: path)
    }

    /// This table with the models of a JSON file layered on top.
    /// - Throws: ``PricingError`` naming the file.
    public func layered(withFile path: String) throws -> PricingTable {
        try layered(with: PricingTable.parseFile(path), source: path)
    }

    static func parseFile(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PricingError(.unreadableTable, "cannot read the pricing file '\(path)' (missing or not readable)")
        }
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
    /// `pricing/model_prices_and_context_window.json` found by walking up from the running
    /// executable's folder (the binary lives in `.build/debug` inside the repository), then from
    /// the current folder.
    /// - Throws: ``PricingError`` (`unreadableTable`) when the shipped table cannot be found or read,
    ///   or an overlay is missing or not JSON; `malformedEntry` for a bad entry.
    public static func load(overlays: [String] = [], environment: [String: String]) throws -> PricingTable {
        let shipped: String
        if let path = environment["WFLO_PRICING_TABLE"], !path.isEmpty {
            shipped = path
        } else if let found = locateShippedTable(currentDirectory: FileManager.default.currentDirectoryPath) {
            shipped = found
        } else {
            throw PricingError(.unreadableTable, """
                cannot find pricing/\(shippedFileName) (looked in the folders above the wflo executable and above \
                the current folder); set WFLO_PRICING_TABLE to its path
                """)
        }
        var table = try read(path: shipped)
        let extra = (environment["WFLO_PRICING"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        for path in extra + overlays {
            table = try table.layered(withFile: path)
        }
        return table
    }

    /// The shipped table's path, walking up from the executable's folder, then from `currentDirectory`.
    static func locateShippedTable(currentDirectory: String) -> String? {
        var starts: [URL] = []
        if let executable = Bundle.main.executableURL ?? CommandLine.arguments.first.map({ URL(fileURLWithPath: $0) }) {
            starts.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
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
}
