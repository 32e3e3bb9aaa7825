import Crypto
import Foundation
import WfloCore

/// API tokens: made here (256 random bits, shown once), kept in the journal as SHA-256 hashes
/// only, checked here for every API call. `wflo tokens` and `wflo server` both call this.
public struct TokenService: Sendable {
    public let store: any JournalStore
    public let now: @Sendable () -> Date

    public init(store: any JournalStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// Every token starts with this, so a leaked one is recognizable (secret scanners, logs).
    public static let prefix = "wflo_"

    /// A new token and its record.
    public struct Created: Sendable {
        /// The token itself: shown once, never stored.
        public var token: String
        public var record: APITokenRecord
    }

    /// Makes and stores a token named `name` with `role`.
    /// - Throws: ``AppError`` `.invalidInput` for a bad name or a name already used.
    public func create(name: String, role: TokenRole) async throws -> Created {
        if let problem = APITokenRecord.problem(name: name) { throw AppError(.invalidInput, problem) }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let token = Self.prefix + Self.hex(bytes)
        let record = APITokenRecord(name: name, role: role, hash: Self.hash(token), createdAt: now())
        do {
            try await store.createToken(record)
        } catch let error as StoreError where error.code == .conflict {
            throw AppError(.invalidInput, error.message)
        }
        return Created(token: token, record: record)
    }

    public func list() async throws -> [APITokenRecord] {
        try await store.tokens()
    }

    /// - Throws: ``AppError`` `.notFound` when no live token has that name.
    public func revoke(name: String) async throws {
        guard try await store.revokeToken(name: name, at: now()) else {
            throw AppError(.notFound, "no live token named '\(name)' in \(store.journalLocation); list them with `wflo tokens list`")
        }
    }

    /// The live token `token` is, or nil (unknown or revoked).
    public func authenticate(_ token: String) async throws -> APITokenRecord? {
        guard token.hasPrefix(Self.prefix), token.count < 200, let record = try await store.token(hash: Self.hash(token)),
              record.revokedAt == nil else { return nil }
        return record
    }

    /// Lowercase hex SHA-256 of the token's UTF-8. Every API call and dashboard page hashes
    /// (the token, the session id, its CSRF token), so this writes the hex directly: a
    /// `String(format: "%02x")` per byte was the larger part of a hash's cost.
    public static func hash(_ token: String) -> String {
        hex(SHA256.hash(data: Data(token.utf8)))
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
