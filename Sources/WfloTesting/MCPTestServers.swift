import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Real MCP servers for tests: the official Python SDK (`mcp` from PyPI) in a virtual
/// environment built by `scripts/python-venv.sh` from Debian's python3, world-readable so the
/// sandbox's unprivileged user can run it.
///
/// The environment is built the first time a test asks (scripts/test.sh builds it before the
/// tests). When it cannot be built the test fails saying why — it is never skipped.
public enum MCPTestServers {
    /// The SDK the tests talk to.
    public static let packages = ["mcp==1.26.0"]

    /// The package's root folder.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The venv's folder: `/tmp/wflo-test-venv-mcp`, or `WFLO_TEST_MCP_VENV`. Not under the checkout: a
    /// clone may sit in a folder only its owner can enter (`mktemp -d` makes them 0700), and the
    /// sandbox's unprivileged user must read the venv.
    public static let defaultVenvFolder = "/tmp/wflo-test-venv-mcp"

    public static var venvFolder: String {
        if let folder = ProcessInfo.processInfo.environment["WFLO_TEST_MCP_VENV"], !folder.isEmpty { return folder }
        return defaultVenvFolder
    }

    /// The venv's python, built when missing.
    /// - Throws: ``MCPVenvError`` with the script's output when it cannot be built.
    public static func python() async throws -> String {
        let folder = venvFolder
        let stamp = folder + "/.wflo-packages"
        let wanted = packages.sorted().joined(separator: "\n") + "\n"
        if let text = try? String(contentsOfFile: stamp, encoding: .utf8), text == wanted,
           FileManager.default.isExecutableFile(atPath: folder + "/bin/python") {
            return folder + "/bin/python"
        }
        let process = try SpawnedProcess(executable: "/bin/bash", arguments: [packageRoot + "/scripts/python-venv.sh", folder] + packages,
                                         environment: ProcessInfo.processInfo.environment)
        let end = await process.finish()
        guard end.status == 0, !end.killedBySignal, FileManager.default.isExecutableFile(atPath: folder + "/bin/python") else {
            throw MCPVenvError(message: "the MCP SDK's virtual environment could not be built at \(folder) (scripts/python-venv.sh exited \(end.status)): \(end.stderr.suffix(2000))")
        }
        return folder + "/bin/python"
    }

    /// Writes the test server to a new world-readable folder and returns the folder.
    public static func writeServer() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-mcp-server-" + UUID().uuidString.prefix(8).lowercased())
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let file = folder.appendingPathComponent("server.py")
        try serverSource.write(to: file, atomically: true, encoding: .utf8)
        chmod(file.path, 0o644)
        return folder.path
    }

    /// A free TCP port on 127.0.0.1 (bound, then released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MCPVenvError(message: "socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw MCPVenvError(message: "bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The tools: `lookup` (a fact), `notify` (POSTs to NOTE_URL: counts calls from outside),
    /// `probe` (tries to connect to a loopback port), `environment` (what it was given),
    /// `hang` (never answers), `paid_search` (reports its cost in `_meta`). Run with `http PORT`
    /// as arguments it serves Streamable HTTP on 127.0.0.1:PORT instead of stdio.
    public static let serverSource = #"""
    import json, os, socket, sys, time, urllib.request
    from mcp.server.fastmcp import FastMCP
    from mcp.types import CallToolResult, TextContent

    port = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "http" else 8000
    mcp = FastMCP("wflo-test", host="127.0.0.1", port=port, json_response=os.environ.get("JSON_RESPONSE") == "1")

    @mcp.tool()
    def lookup(city: str) -> str:
        """The population of a city."""
        return {"Paris": "2102650", "Lyon": "522250"}.get(city, "unknown")

    @mcp.tool()
    def notify(text: str) -> str:
        """Send a note to the notes service."""
        request = urllib.request.Request(os.environ["NOTE_URL"], data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return "sent, status %d" % response.status

    @mcp.tool()
    def probe(port: int) -> str:
        """Try to connect to a port on 127.0.0.1."""
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=2)
            connection.close()
            return "connected"
        except OSError as error:
            return "refused: %s" % error

    @mcp.tool()
    def environment() -> str:
        """The names of the environment variables the server sees, and TOKEN."""
        return json.dumps({"names": sorted(os.environ), "token": os.environ.get("TOKEN")})

    @mcp.tool()
    def hang() -> str:
        """Never answers."""
        time.sleep(3600)
        return "late"

    @mcp.tool()
    def paid_search(q: str) -> CallToolResult:
        """A search that reports its cost."""
        return CallToolResult(content=[TextContent(type="text", text="results for " + q)], _meta={"cost_usd": "0.0015"})

    if __name__ == "__main__":
        print("wflo test server starting", file=sys.stderr, flush=True)
        mcp.run(transport="streamable-http" if len(sys.argv) > 1 and sys.argv[1] == "http" else "stdio")
    """#
}

public struct MCPVenvError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
