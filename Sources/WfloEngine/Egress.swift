import Foundation
import WfloCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a host name into its addresses: `getaddrinfo` by default, injected in tests.
public struct HostResolver: Sendable {
    public var resolve: @Sendable (String) async throws -> [IPAddress]

    public init(resolve: @escaping @Sendable (String) async throws -> [IPAddress]) {
        self.resolve = resolve
    }

    /// The system resolver (`getaddrinfo`): every A and AAAA answer, in the order given.
    /// - Throws: ``EgressResolutionError`` naming the host when it does not resolve.
    public static let system = HostResolver { host in
        try await Task.detached { try HostResolver.getaddrinfo(host) }.value
    }

    static func getaddrinfo(_ host: String) throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        let status = Glibc.getaddrinfo(host, nil, &hints, &result)
        guard status == 0, let first = result else {
            let reason = String(cString: gai_strerror(status))
            throw EgressResolutionError(host: host, reason: reason)
        }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let sockaddr = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    let bytes = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                    }
                    if let address = IPAddress(bytes: bytes), !addresses.contains(address) { addresses.append(address) }
                case AF_INET6:
                    let bytes = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                    }
                    if let address = IPAddress(bytes: bytes), !addresses.contains(address) { addresses.append(address) }
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        if addresses.isEmpty { throw EgressResolutionError(host: host, reason: "no IPv4 or IPv6 address") }
        return addresses
    }
}

/// A host name that DNS could not resolve; no connection was made.
public struct EgressResolutionError: Error, Sendable, CustomStringConvertible {
    public var host: String
    public var reason: String
    public var description: String { "cannot resolve host '\(host)': \(reason)" }
}

/// One hop of an http step, checked against the egress policy and pinned to a checked address.
struct EgressCheckedTarget: Sendable {
    /// The URL as the step wrote it (or the redirect gave it).
    var url: URL
    var host: String
    /// The addresses DNS gave; all of them passed the policy.
    var addresses: [IPAddress]
    /// For `http`: the URL with the host replaced by the first checked address, so the connection
    /// goes where the check looked (no second DNS lookup to rebind). For `https` the URL as is:
    /// TLS needs the name, and a rebound address cannot present the name's certificate.
    var connectURL: String
    /// The `Host` header to send with ``connectURL`` (nil when it is the URL's own).
    var hostHeader: String?
}

/// Checks every hop of an http step against the workflow's egress policy before any connection.
struct EgressGuard: Sendable {
    let policy: EgressPolicy
    let declared: Bool
    let resolver: HostResolver
    /// The user-level policy every workflow must also pass, with the file it came from.
    let user: (policy: EgressPolicy, file: String)?

    init(policy: EgressPolicy?, resolver: HostResolver, user: (policy: EgressPolicy, file: String)? = nil) {
        self.policy = policy ?? .default
        self.declared = policy != nil
        self.resolver = resolver
        self.user = user
    }

    /// Why the workflow's or the user's policy refuses `host`, or nil; the user's is asked second.
    func refusal(scheme: String, host: String, addresses: [IPAddress]?) -> EgressRefusal? {
        if let refusal = policy.refusal(scheme: scheme, host: host, addresses: addresses, declared: declared) { return refusal }
        if let user { return user.policy.refusal(scheme: scheme, host: host, addresses: addresses, user: user.file) }
        return nil
    }

    /// Resolves the URL's host and checks the scheme, the name and every address.
    /// - Throws: ``EgressRefusal`` (naming the host and the rule) or ``EgressResolutionError``;
    ///   in both cases nothing was sent.
    func check(_ url: URL) async throws -> EgressCheckedTarget {
        let scheme = url.scheme?.lowercased() ?? ""
        guard let rawHost = url.host, !rawHost.isEmpty else {
            throw EgressRefusal(host: "", message: "the URL '\(url.absoluteString)' has no host")
        }
        let host = EgressPolicy.normalize(host: rawHost)
        // The scheme and the name are checked before DNS is asked anything.
        if let refusal = refusal(scheme: scheme, host: host, addresses: nil) { throw refusal }
        let addresses = try await resolver.resolve(host)
        if let refusal = refusal(scheme: scheme, host: host, addresses: addresses) { throw refusal }
        var target = EgressCheckedTarget(url: url, host: host, addresses: addresses, connectURL: url.absoluteString, hostHeader: nil)
        if scheme == "http", IPAddress(host) == nil, let pinned = addresses.first,
           var components = URLComponents(url: url, resolvingAgainstBaseURL: false) {
            components.host = pinned.isIPv4 ? pinned.description : "[\(pinned.description)]"
            if let connect = components.string {
                target.connectURL = connect
                target.hostHeader = url.port.map { "\(host):\($0)" } ?? host
            }
        }
        return target
    }
}
