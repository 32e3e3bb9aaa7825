import CWfloSandbox
import Foundation
import WfloCore
#if canImport(Glibc)
import Glibc
#endif

/// A run's scratch directory: `<base>/wflo-sandbox-<id>/work` (the program's working directory)
/// and `root` (where the namespaces backend builds its root). Removed whole afterwards.
struct Scratch: Sendable {
    let base: String
    var work: String { base + "/work" }
    var root: String { base + "/root" }

    /// Creates it under WFLO_SANDBOX_TMPDIR, else /tmp (not $TMPDIR: the sandbox's uid must be
    /// able to reach it).
    static func create(environment: [String: String]) throws(SandboxError) -> Scratch {
        let parent = environment["WFLO_SANDBOX_TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let base = parent + "/wflo-sandbox-" + UUID().uuidString.lowercased()
        // 0711: the sandbox uid may pass through to its own work directory, and list nothing.
        guard mkdir(base, 0o711) == 0 else { throw SandboxError(.system, "cannot create the scratch directory \(base): \(Scratch.errorText())") }
        chmod(base, 0o711)
        guard mkdir(base + "/work", 0o700) == 0, mkdir(base + "/root", 0o755) == 0 else {
            let message = Scratch.errorText()
            _ = wflo_remove_tree(base)
            throw SandboxError(.system, "cannot create the scratch directory \(base)/work: \(message)")
        }
        return Scratch(base: base)
    }

    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Writes `files` beneath the work directory (new files only, never through a link).
    func place(_ files: [SandboxFile]) throws(SandboxError) {
        guard !files.isEmpty else { return }
        let dir = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw SandboxError(.system, "cannot open \(work): \(Scratch.errorText())") }
        defer { close(dir) }
        for file in files {
            if let problem = SandboxFile.problem(with: file.path) { throw SandboxError(.invalidRequest, "file \(problem)") }
            var rc = wflo_make_parents_beneath(dir, file.path)
            if rc != 0 { throw SandboxError(.system, "cannot create the folders of \(file.path): \(Scratch.errorText(-rc))") }
            let fd = wflo_open_beneath(dir, file.path, O_WRONLY | O_CREAT | O_EXCL, file.executable ? 0o755 : 0o644)
            if fd < 0 { throw SandboxError(.invalidRequest, "cannot create \(file.path) in the scratch directory: \(Scratch.errorText(-fd))") }
            defer { close(fd) }
            var offset = 0
            while offset < file.contents.count {
                let n = file.contents.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { rc = errno; throw SandboxError(.system, "writing \(file.path) failed: \(Scratch.errorText(rc))") }
                offset += n
            }
        }
    }

    /// Reads `paths` beneath the work directory, at most `limit` bytes each, never through a
    /// link and never outside it; a problem with one file is reported in its entry.
    func collect(_ paths: [String], limit: Int) -> [SandboxCollectedFile] {
        guard !paths.isEmpty else { return [] }
        let dir = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return paths.map { SandboxCollectedFile(path: $0, contents: nil, problem: "the scratch directory is gone") } }
        defer { close(dir) }
        return paths.map { path in
            if let problem = SandboxFile.problem(with: path) { return SandboxCollectedFile(path: path, contents: nil, problem: problem) }
            let fd = wflo_open_beneath(dir, path, O_RDONLY | O_NONBLOCK, 0)
            guard fd >= 0 else {
                let why: String
                switch -fd {
                case ENOENT: why = "the program did not create it"
                case ELOOP, EXDEV: why = "it is (or passes through) a symbolic link; outputs are never read through links"
                default: why = Scratch.errorText(-fd)
                }
                return SandboxCollectedFile(path: path, contents: nil, problem: why)
            }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                return SandboxCollectedFile(path: path, contents: nil, problem: "not a regular file")
            }
            if Int(info.st_size) > limit {
                return SandboxCollectedFile(path: path, contents: nil, problem: "\(info.st_size) bytes, more than the \(limit)-byte output limit")
            }
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while data.count <= limit {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                data += buffer[0..<n]
            }
            if data.count > limit {
                return SandboxCollectedFile(path: path, contents: nil, problem: "more than the \(limit)-byte output limit")
            }
            return SandboxCollectedFile(path: path, contents: data, problem: nil)
        }
    }

    /// Removes everything, links not followed. Returns an error text when something is left.
    @discardableResult
    func remove() -> String? {
        let rc = wflo_remove_tree(base)
        return rc == 0 ? nil : "removing \(base) failed: \(Scratch.errorText(-rc))"
    }
}
