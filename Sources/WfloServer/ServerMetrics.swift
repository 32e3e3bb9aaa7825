import Foundation
import WfloCore

/// `GET /metrics`: Prometheus text exposition (0.0.4) of what the journal knows. Each family is
/// one ``Family``; another part of wflo adds its own by appending to ``families(store:)``'s
/// result (the telemetry issue's counters and histograms go beside these).
public enum ServerMetrics {
    /// One metric family: its name, help, type and samples (labels → value).
    public struct Family: Sendable {
        public var name: String
        public var help: String
        public var type: String
        public var samples: [(labels: [(String, String)], value: String)]

        public init(name: String, help: String, type: String, samples: [(labels: [(String, String)], value: String)]) {
            self.name = name
            self.help = help
            self.type = type
            self.samples = samples
        }

        /// The family as exposition text: HELP, TYPE, then one line per sample.
        public var text: String {
            var lines = ["# HELP \(name) \(help)", "# TYPE \(name) \(type)"]
            for sample in samples {
                let labels = sample.labels.isEmpty ? ""
                    : "{" + sample.labels.map { "\($0.0)=\"\(ServerMetrics.escape($0.1))\"" }.joined(separator: ",") + "}"
                lines.append("\(name)\(labels) \(sample.value)")
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// The journal's gauges: runs by status (every status, zeros too) and pending approval requests.
    public static func families(store: any JournalStore) async throws -> [Family] {
        let counts = try await store.runCountsByStatus()
        let pending = try await store.approvals(runID: nil, status: .pending).count
        return [
            Family(name: "wflo_runs", help: "Runs in the journal by stored status.", type: "gauge",
                   samples: RunStatus.allCases.map { (labels: [("status", $0.rawValue)], value: String(counts[$0] ?? 0)) }),
            Family(name: "wflo_approvals_pending", help: "Approval requests waiting for a decision.", type: "gauge",
                   samples: [(labels: [], value: String(pending))]),
        ]
    }

    /// ``families(store:)`` as one exposition text.
    public static func prometheusText(store: any JournalStore) async throws -> String {
        try await families(store: store).map(\.text).joined()
    }

    /// A label value escaped as the exposition format wants (backslash, quote, newline).
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
