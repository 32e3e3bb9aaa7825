import ArgumentParser
import Foundation
import WfloCore
import WfloReports
import WfloStore

/// `wflo circuits` (list) and `wflo circuits reset HOST|--all`.
struct CircuitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "circuits",
        abstract: "Circuit breakers of the hosts http steps call: list them, or reset (close) them.",
        discussion: """
            A host's circuit opens after repeated failures (no answer, or 408/429/5xx); while open, http steps
            calling it fail fast or output their fallback, without a request. After open_for one probe request
            is let through: success closes the circuit, failure opens it again. Circuits are shared by every
            run using the same journal.
            """,
        subcommands: [CircuitsListCommand.self, CircuitsResetCommand.self],
        defaultSubcommand: CircuitsListCommand.self
    )
}

struct CircuitsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every host with a circuit that is open, half-open, or counting failures.")

    @Flag(help: "Print a JSON array.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let circuits = try await store.withJournal { try await $0.circuits() }
            let now = Date()
            if json {
                let list = JSONValue.array(circuits.map { Self.json($0, now: now) })
                Console.out(list.encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if circuits.isEmpty {
                Console.out("No circuits: every host is closed (no recent failures).\n")
                return
            }
            let rows = circuits.map { c -> [String] in
                [c.host, Self.shownState(c, now: now), String(c.failures.count), c.openUntil.map { Self.time($0) } ?? "", c.lastError ?? ""]
            }
            Console.out(TextTable(header: ["HOST", "STATE", "FAILURES", "OPEN UNTIL", "LAST ERROR"], rows: rows, rightAligned: [2])
                .render(separatorBefore: nil))
            Console.out("Close one with `wflo circuits reset HOST`, all with `wflo circuits reset --all`.\n")
        }
    }

    /// An open circuit past its time lets the next request through as the probe.
    static func shownState(_ circuit: CircuitRecord, now: Date) -> String {
        if circuit.state == .open, let until = circuit.openUntil, until <= now { return "open (next request probes)" }
        return circuit.state == .halfOpen ? "half-open (probing)" : circuit.state.rawValue
    }

    static func json(_ circuit: CircuitRecord, now: Date) -> JSONValue {
        [
            "host": .string(circuit.host), "state": .string(circuit.state.rawValue),
            "failures": .int(circuit.failures.count),
            "opened_at": circuit.openedAt.map { .string(time($0)) } ?? .null,
            "open_until": circuit.openUntil.map { .string(time($0)) } ?? .null,
            "probe_started_at": circuit.probeStartedAt.map { .string(time($0)) } ?? .null,
            "last_error": circuit.lastError.map(JSONValue.string) ?? .null,
            "updated_at": .string(time(circuit.updatedAt)),
        ]
    }

    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

struct CircuitsResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "Close a host's circuit (forget its failures), or every circuit with --all.")

    @Argument(help: "The host as `wflo circuits` lists it (host, or host:port).")
    var host: String?

    @Flag(help: "Reset every circuit.")
    var all = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if (host == nil) == !all { throw ValidationError("give a HOST (as `wflo circuits` lists it) or --all") }
    }

    func run() async throws {
        try await reportingErrors {
            let (removed, known) = try await store.withJournal { journal in
                let removed = try await journal.resetCircuits(host: all ? nil : host)
                return (removed, removed == 0 ? try await journal.circuits().map(\.host) : [])
            }
            if let host, !all, removed == 0 {
                throw CLIError("no circuit for '\(host)'" + (known.isEmpty ? "; every host is closed" : "; the circuits are: \(known.joined(separator: ", "))"), exitCode: 1)
            }
            Console.out("Reset \(removed) circuit\(removed == 1 ? "" : "s").\n")
        }
    }
}
