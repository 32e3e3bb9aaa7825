import Foundation
import Testing
import WfloCore
import WfloTesting

/// The independent OTLP/HTTP receiver (scripts/otlp_receiver.py): a Python process decoding the
/// exporter's protobuf bodies with `opentelemetry-proto` from PyPI, writing what it got as JSON lines.
///
/// Its virtual environment is built by scripts/python-venv.sh on first use (scripts/test.sh builds
/// it before the tests); when it cannot be built the test fails, it is never skipped.
final class OTLPReceiver: Sendable {
    static let package = "opentelemetry-proto==1.45.2"
    let directory: URL
    let port: Int
    private let process: SpawnedProcess

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// A span as the receiver decoded it.
    struct Span: Sendable {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var kind: Int
        var statusCode: Int
        var attributes: [String: JSONValue]
        var events: [(name: String, attributes: [String: JSONValue])]

        func string(_ key: String) -> String? { attributes[key]?.stringValue }
        func int(_ key: String) -> Int? { attributes[key]?.intValue }
    }

    /// Built once per test process, whichever suite asks first (two concurrent builds of one folder would clash).
    private static let venv = Task { try await buildVenv() }

    static func python() async throws -> String { try await venv.value }

    private static func buildVenv() async throws -> String {
        let venv = WfloProcess.repositoryRoot.appendingPathComponent(".build/venv-otlp").path
        let setup = try SpawnedProcess(executable: "/bin/bash", arguments: ["scripts/python-venv.sh", venv, package],
                                       environment: ProcessInfo.processInfo.environment, directory: WfloProcess.repositoryRoot.path)
        let ended = await setup.finish()
        guard ended.status == 0 else {
            throw ReceiverError("scripts/python-venv.sh \(venv) \(package) failed (status \(ended.status)): \(ended.stderr)")
        }
        return venv + "/bin/python"
    }

    /// - Parameter delay: seconds the receiver waits before answering each export of spans (a slow collector).
    static func start(delay: Double = 0) async throws -> OTLPReceiver {
        let python = try await python()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-otlp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = WfloProcess.repositoryRoot.appendingPathComponent("scripts/otlp_receiver.py").path
        let process = try SpawnedProcess(executable: python, arguments: [script, directory.path],
                                         environment: ["PATH": "/usr/bin:/bin", "OTLP_RECEIVER_DELAY": String(delay)], directory: directory.path)
        let portFile = directory.appendingPathComponent("port")
        for _ in 0..<200 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                return OTLPReceiver(directory: directory, port: port, process: process)
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.send(SIGKILL)
        let ended = await process.finish()
        throw ReceiverError("the OTLP receiver did not start: \(ended.stderr)")
    }

    private init(directory: URL, port: Int, process: SpawnedProcess) {
        self.directory = directory
        self.port = port
        self.process = process
    }

    func stop() async {
        process.send(SIGKILL)
        _ = await process.finish()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every span received so far.
    func spans() throws -> [Span] {
        try lines("spans.jsonl").map { line in
            let attributes = line["attributes"]?.objectValue ?? [:]
            let events = (line["events"]?.arrayValue ?? []).map { event in
                (name: event["name"]?.stringValue ?? "", attributes: event["attributes"]?.objectValue ?? [:])
            }
            return Span(traceID: line["trace_id"]?.stringValue ?? "", spanID: line["span_id"]?.stringValue ?? "",
                        parentSpanID: line["parent_span_id"]?.stringValue ?? "", name: line["name"]?.stringValue ?? "",
                        kind: line["kind"]?.intValue ?? 0, statusCode: line["status_code"]?.intValue ?? 0,
                        attributes: attributes, events: events)
        }
    }

    /// Every metric data point received so far, as the receiver wrote them.
    func metricPoints() throws -> [JSONValue] { try lines("metrics.jsonl") }

    private func lines(_ name: String) throws -> [JSONValue] {
        let file = directory.appendingPathComponent(name)
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    struct ReceiverError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
