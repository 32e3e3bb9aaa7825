import Foundation
import Synchronization
import WfloCore
#if canImport(Glibc)
import Glibc
#endif

/// Finds wflo-sandbox-launcher, exports its seccomp filter once per network mode, and asks it
/// which layers work here (once per process).
struct Launcher: Sendable {
    static let name = "wflo-sandbox-launcher"
    let path: String

    /// WFLO_SANDBOX_LAUNCHER, else next to the running executable (`wflo` and the test bundles
    /// live in the same .build/<config>/ folder), else ../libexec/wflo/ beside it.
    static func locate(environment: [String: String]) throws(SandboxError) -> Launcher {
        if let override = environment["WFLO_SANDBOX_LAUNCHER"], !override.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: override) else {
                throw SandboxError(.launcherNotFound, "WFLO_SANDBOX_LAUNCHER is \(override), which is not an executable file")
            }
            return Launcher(path: override)
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        var tried: [String] = []
        for _ in 0..<3 {
            for candidate in [folder.appendingPathComponent(name), folder.appendingPathComponent("../libexec/wflo/\(name)").standardized] {
                tried.append(candidate.path)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return Launcher(path: candidate.path) }
            }
            folder = folder.deletingLastPathComponent()
        }
        throw SandboxError(.launcherNotFound, "\(name) was not found (looked at \(tried.prefix(2).joined(separator: ", ")), …); "
                           + "build it with `swift build --product \(name)` or point WFLO_SANDBOX_LAUNCHER at it")
    }

    private static let filters = Mutex<[String: [UInt8]]>([:])

    /// The seccomp filter for `network` as BPF, compiled by the launcher once per process and
    /// handed to every launch on fd 4 (compiling costs more than the rest of a launch).
    func filter(for network: SandboxNetwork) throws(SandboxError) -> [UInt8] {
        let mode = Self.mode(network)
        let key = path + "|" + mode
        if let cached = Self.filters.withLock({ $0[key] }) { return cached }
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(executable: path, arguments: ["--export-bpf", mode], environment: [:], stdin: [], fd4: nil,
                                           outputLimit: 1 << 20, deadline: 10, started: { _ in })
        }
        guard outcome.waitStatus == 0, !outcome.stdout.isEmpty, outcome.stdout.count % 8 == 0 else {
            throw SandboxError(.layerMissing, "the launcher could not build the seccomp filter: \(String(decoding: outcome.stderr, as: UTF8.self))",
                               layer: "seccomp")
        }
        Self.filters.withLock { $0[key] = outcome.stdout }
        return outcome.stdout
    }

    static func mode(_ network: SandboxNetwork) -> String {
        switch network {
        case .off: return "none"
        case .any: return "any"
        case .tcp: return "tcp"
        }
    }

    private static let checks = Mutex<[String: [SandboxLayerStatus]]>([:])

    /// `--check`: each layer and whether it works on this machine (asked once per process).
    func check() throws(SandboxError) -> [SandboxLayerStatus] {
        if let cached = Self.checks.withLock({ $0[path] }) { return cached }
        let outcome = try ChildProcess.run(executable: path, arguments: ["--check"], environment: [:], stdin: [], fd4: nil,
                                           outputLimit: 1 << 20, deadline: 10, started: { _ in })
        var layers: [SandboxLayerStatus] = []
        for line in String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals])
            let rest = line[line.index(after: equals)...]
            let works = rest.hasPrefix("ok")
            let detail = rest.drop(while: { $0 != " " }).trimmingCharacters(in: .whitespaces)
            layers.append(SandboxLayerStatus(name: name, works: works, detail: detail))
        }
        Self.checks.withLock { $0[path] = layers }
        return layers
    }
}

/// One containment layer and whether it works on this machine.
public struct SandboxLayerStatus: Sendable, Hashable {
    /// `landlock`, `seccomp`, `uid`, `namespaces`, `docker`.
    public var name: String
    public var works: Bool
    public var detail: String

    public init(name: String, works: Bool, detail: String) {
        self.name = name
        self.works = works
        self.detail = detail
    }
}
