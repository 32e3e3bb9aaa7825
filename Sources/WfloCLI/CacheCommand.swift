import ArgumentParser
import Foundation
import WfloCore
import WfloReports
import WfloStore

/// `wflo cache stats` and `wflo cache clear`.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "The LLM response cache: what it holds, what it saved, and clearing it.",
        subcommands: [CacheStatsCommand.self, CacheClearCommand.self],
        defaultSubcommand: CacheStatsCommand.self
    )
}

struct CacheStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Entries, size, hits and savings, per namespace.")

    @Flag(help: "Print a JSON object.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let stats = try await store.withJournal { try await $0.cacheStats(at: Date()) }
            if json {
                let object: JSONValue = [
                    "entries": .int(stats.entries), "bytes": .int(stats.bytes), "expired": .int(stats.expired),
                    "hits": .int(stats.hits), "savings_usd": .string(stats.savings.exact()),
                    "namespaces": .array(stats.namespaces.map {
                        ["namespace": .string($0.name), "entries": .int($0.entries), "bytes": .int($0.bytes), "hits": .int($0.hits)]
                    }),
                ]
                Console.out(object.encoded(sorted: true, pretty: true) + "\n")
                return
            }
            var text = "Cache: \(stats.entries) entr\(stats.entries == 1 ? "y" : "ies"), \(Self.size(stats.bytes))"
            if stats.expired > 0 { text += " (\(stats.expired) expired, removed by `wflo cache clear`)" }
            text += " · \(stats.hits) hit\(stats.hits == 1 ? "" : "s") saved \(stats.savings.dollars()) (USD, rounded half-even to 6 decimals)\n"
            if !stats.namespaces.isEmpty {
                let rows = stats.namespaces.map { [$0.name, String($0.entries), Self.size($0.bytes), String($0.hits)] }
                text += "\n" + TextTable(header: ["NAMESPACE", "ENTRIES", "SIZE", "HITS"], rows: rows, rightAligned: [1, 2, 3])
                    .render(separatorBefore: nil)
            }
            Console.out(text)
        }
    }

    static func size(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.1f MiB", Double(bytes) / 1024 / 1024)
    }
}

struct CacheClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove cached answers (all, or the older / one namespace's ones). Expired ones always go.")

    @Option(help: "Only entries created more than this long ago: 30m, 12h, 7d.")
    var olderThan: String?

    @Option(help: "Only this namespace (a workflow's name unless it sets cache_namespace).")
    var namespace: String?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            var cutoff: Date?
            if let olderThan {
                guard let seconds = DurationText.seconds(olderThan) else {
                    throw CLIError("--older-than '\(olderThan)' is not a duration; write e.g. 30m, 12h or 7d", exitCode: 2)
                }
                cutoff = Date().addingTimeInterval(-seconds)
            }
            let removed = try await store.withJournal { try await $0.clearCache(olderThan: cutoff, namespace: namespace, at: Date()) }
            Console.out("Removed \(removed) cached answer\(removed == 1 ? "" : "s").\n")
        }
    }
}
