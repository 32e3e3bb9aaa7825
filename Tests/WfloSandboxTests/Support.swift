import Foundation
import Testing
import WfloCore
@testable import WfloSandbox
#if canImport(Glibc)
import Glibc
#endif

/// What this machine offers, asked once: tests that need a layer say so instead of passing.
enum Machine {
    static let layers: [SandboxLayerStatus] = Sandbox().check()
    static func works(_ name: String) -> Bool { layers.contains { $0.name == name && $0.works } }
    static var namespaces: Bool { works("namespaces") }
    static var whyNoNamespaces: Comment {
        Comment(rawValue: "user namespaces are unavailable here: " + (layers.first { $0.name == "namespaces" }?.detail ?? "not reported"))
    }
    static let isRoot = getuid() == 0
}

/// Runs programs in the sandbox and checks, after each, that nothing of it is left running.
struct Probe {
    /// Every process of a run carries this in its environment, so survivors can be found in /proc.
    let mark = "WFLO_TEST_MARK=" + UUID().uuidString

    /// Short limits keep the suite fast; tests widen what they need.
    static let quick = SandboxLimits(wall: 5, cpu: 5, memory: 256 << 20, output: 256 << 10, processes: 32, fileSize: 4 << 20, openFiles: 64)

    func run(_ command: [String], backend: SandboxBackendChoice = .process, limits: SandboxLimits = Probe.quick,
             network: SandboxNetwork = .off, environment: [String: String] = [:], stdin: String = "", files: [SandboxFile] = [],
             outputs: [String] = [], grace: Double = 0.3) async throws -> SandboxResult {
        var env = environment
        let parts = mark.split(separator: "=", maxSplits: 1)
        env[String(parts[0])] = String(parts[1])
        let request = SandboxRequest(command: command, environment: env, stdin: Array(stdin.utf8), files: files, outputs: outputs,
                                     policy: SandboxPolicy(backend: backend, limits: limits, network: network, killGrace: grace))
        let result = try await Sandbox().run(request)
        #expect(survivors().isEmpty, "processes of the sandbox survived it: \(survivors())")
        return result
    }

    /// Python with a small helper for raw system calls: `sc(nr, *args)` returns 0 or the errno.
    func python(_ code: String, backend: SandboxBackendChoice = .process, limits: SandboxLimits = Probe.quick,
                network: SandboxNetwork = .off, environment: [String: String] = [:], files: [SandboxFile] = [],
                outputs: [String] = [], grace: Double = 0.3) async throws -> SandboxResult {
        let preamble = """
            import ctypes, errno, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            def sc(nr, *args):
                ctypes.set_errno(0)
                r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
                return ctypes.get_errno() if r == -1 else 0
            def name(e):
                return errno.errorcode.get(e, str(e)) if e else "OK"

            """
        return try await run(["python3", "main.py"], backend: backend, limits: limits, network: network, environment: environment,
                             files: files + [SandboxFile(path: "main.py", contents: Array((preamble + code).utf8))], outputs: outputs, grace: grace)
    }

    /// Processes whose environment holds this probe's mark.
    func survivors() -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [String] = []
        for pid in entries where pid.first?.isNumber == true {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if data.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == mark }) {
                let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map {
                    String(decoding: $0, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
                } ?? "?"
                found.append("\(pid): \(command)")
            }
        }
        return found
    }
}

/// A folder outside any sandbox's reach, removed afterwards.
struct HostFolder {
    let path: String
    init(in parent: String = "/tmp") throws {
        path = parent + "/wflo-host-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }
}

extension SandboxResult {
    var lines: [String] { stdoutText.split(separator: "\n").map(String.init) }
    /// `key=value` lines the test programs print.
    var values: [String: String] {
        var map: [String: String] = [:]
        for line in lines {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { map[String(parts[0])] = String(parts[1]) }
        }
        return map
    }
}
