import Foundation

/// One HTTP request and its response, as the transports see them.
public enum HTTPExchange {
    public struct Request: Sendable, Hashable {
        public var method: String
        public var url: String
        public var headers: [Header]
        public var body: [UInt8]

        public init(method: String, url: String, headers: [Header], body: [UInt8]) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    public struct Response: Sendable, Hashable {
        public var status: Int
        public var headers: [Header]
        public var body: [UInt8]

        public init(status: Int, headers: [Header], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        /// The first header of that name, case-insensitively.
        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
    }

    public struct Header: Sendable, Hashable, Codable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }
}

/// Sends HTTP requests: over the network, from a cassette, or recording to one.
public protocol HTTPTransport: Sendable {
    /// - Throws: ``ProviderError`` of kind `.timeout` or `.connection` when no response came.
    ///   An HTTP error status is a response, not an error.
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response
}
