import Foundation

/// What an API token may do (`wflo tokens create NAME --role …`). Each role includes the ones
/// before it: read < submit < approve < admin.
public enum TokenRole: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    /// Lists and reads runs, reports, approvals, events, metrics.
    case read
    /// Also submits, cancels and resumes runs.
    case submit
    /// Also decides approval requests.
    case approve
    /// Everything.
    case admin

    private var rank: Int { TokenRole.allCases.firstIndex(of: self) ?? 0 }

    public static func < (lhs: TokenRole, rhs: TokenRole) -> Bool { lhs.rank < rhs.rank }

    /// Whether a token of this role may do what `needed` allows.
    public func allows(_ needed: TokenRole) -> Bool { self >= needed }

    /// "read, submit, approve or admin", for messages.
    public static var spelled: String { "read, submit, approve or admin" }
}

/// An API token as the journal keeps it: never the token itself, only its SHA-256 (the token is
/// 256 random bits, so a fast hash is enough; it is shown once, when created).
public struct APITokenRecord: Sendable, Hashable {
    /// The identity recorded when the token decides an approval ("who decided").
    public var name: String
    public var role: TokenRole
    /// Lowercase hex SHA-256 of the token.
    public var hash: String
    public var createdAt: Date
    /// Set by `wflo tokens revoke`: the token no longer authenticates; the row stays so the name
    /// is never given to another token.
    public var revokedAt: Date?

    public init(name: String, role: TokenRole, hash: String, createdAt: Date, revokedAt: Date? = nil) {
        self.name = name
        self.role = role
        self.hash = hash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// What is wrong with a token name a person gave (nil when nothing): 1–64 letters, digits,
    /// `-`, `_`, `.` or `@`.
    public static func problem(name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ allowed.contains($0) }) {
            return "token name '\(name)': use 1 to 64 letters, digits, '-', '_', '.' or '@'"
        }
        return nil
    }
}

/// API tokens (`wflo tokens`, `wflo server`).
public protocol APITokenStore: Sendable {
    /// Inserts a token.
    /// - Throws: ``StoreError`` `.conflict` when a token of that name exists (revoked ones too).
    func createToken(_ token: APITokenRecord) async throws
    /// Every token, revoked ones too, by name.
    func tokens() async throws -> [APITokenRecord]
    /// The token whose hash is `hash`, revoked or not (the caller checks ``APITokenRecord/revokedAt``).
    func token(hash: String) async throws -> APITokenRecord?
    /// Revokes the named token and ends its dashboard sessions. Returns false when there is no live token of that name.
    func revokeToken(name: String, at: Date) async throws -> Bool

    /// Stores a dashboard session (the dashboard's login), so it outlives the server process.
    func createSession(_ session: SessionRecord) async throws
    /// The session whose id hashes to `idHash` when it has not expired at `now` and its token is
    /// live (not revoked); nil otherwise.
    func session(idHash: String, now: Date) async throws -> SessionRecord?
    /// The session of ``session(idHash:now:)`` with its token, in one read (the dashboard checks
    /// it on every page): nil when unknown, expired or its token revoked.
    func liveSession(idHash: String, now: Date) async throws -> (session: SessionRecord, token: APITokenRecord)?
    /// Ends a session (logging out). Returns false when there was none.
    func deleteSession(idHash: String) async throws -> Bool
    /// Removes the sessions expired at `now`; returns how many.
    func deleteExpiredSessions(now: Date) async throws -> Int
}

/// A dashboard session as the journal keeps it (`v17_sessions`): never the session id the
/// browser holds in its cookie, only its SHA-256; the token it was opened with (by hash: revoking
/// that token ends it); when it ends.
public struct SessionRecord: Sendable, Hashable {
    /// Lowercase hex SHA-256 of the session id.
    public var idHash: String
    /// The ``APITokenRecord/hash`` of the token logged in with.
    public var tokenHash: String
    public var createdAt: Date
    public var expiresAt: Date

    public init(idHash: String, tokenHash: String, createdAt: Date, expiresAt: Date) {
        self.idHash = idHash
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A page of the run list: newest first (creation time, then id), optionally of one status and
/// one workflow, after the last run of the page before (``RunPageCursor``).
public struct RunPageQuery: Sendable, Hashable {
    public var status: RunStatus?
    public var workflow: String?
    public var after: RunPageCursor?
    public var limit: Int

    public init(status: RunStatus? = nil, workflow: String? = nil, after: RunPageCursor? = nil, limit: Int) {
        self.status = status
        self.workflow = workflow
        self.after = after
        self.limit = limit
    }
}

/// Where a page of runs ends: the creation time and id of its last run. Opaque to clients
/// (``encoded``), so the order can change without breaking them.
public struct RunPageCursor: Sendable, Hashable {
    public var createdAt: Date
    public var id: String

    public init(createdAt: Date, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    public init(after run: RunRecord) {
        self.init(createdAt: run.createdAt, id: run.id)
    }

    /// Whether `run` comes after the cursor in the order newest first, then id descending.
    public func precedes(_ run: RunRecord) -> Bool {
        run.createdAt < createdAt || (run.createdAt == createdAt && run.id < id)
    }

    /// URL-safe text: base64url of "SECONDS|ID" (seconds as Swift prints a Double: it reads back exactly).
    public var encoded: String {
        Data("\(createdAt.timeIntervalSince1970)|\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Reads ``encoded``; nil for text that is not a cursor.
    public init?(encoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let decoded = String(data: data, encoding: .utf8),
              let bar = decoded.firstIndex(of: "|"), let seconds = Double(decoded[..<bar]), seconds.isFinite else { return nil }
        let id = String(decoded[decoded.index(after: bar)...])
        guard !id.isEmpty else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: seconds), id: id)
    }
}

/// Reads the API and dashboard need beyond the report read model.
public protocol RunPageStore: Sendable {
    /// One page of ``RunPageQuery``: at most `limit` runs, newest first (creation time, then id
    /// descending), strictly after `after`. One query, whatever the page size.
    func runPage(_ query: RunPageQuery) async throws -> [RunRecord]
    /// How many runs the journal holds in each stored status (statuses with none are left out). One query.
    func runCountsByStatus() async throws -> [RunStatus: Int]
    /// What a run looks like from outside at this moment, to tell whether it changed (``RunChangeMark``):
    /// one read of its row and of the newest of its events and approvals, whatever its size. Nil for an unknown run.
    func runChangeMark(id: String) async throws -> RunChangeMark?
    /// A number that differs whenever anything was committed to the journal since it was last
    /// read, by this process or any other; nil when the store cannot tell that cheaply (then
    /// nothing may be answered from memory). Equal stamps mean an unchanged journal: what was
    /// read after reading a stamp may be served again while the stamp stays the same.
    func changeStamp() async throws -> UInt64?
}

extension RunPageStore {
    public func changeStamp() async throws -> UInt64? { nil }
}

/// A run's stored status, last update, ledger, cancel request, newest event and approvals, read
/// together. Every write to a run changes one of them — its status and outputs (with an event),
/// its budget, an attempt (the ledger, an event), an approval (requested, decided, expired) — except
/// a step a live driver records without an event: a mark tells a changed run from an unchanged one
/// only for a run nothing drives (``RunStatus/isFinal``). The dashboard keeps a finished run's
/// rendered page while its mark stays the same.
public struct RunChangeMark: Sendable, Hashable {
    public var status: RunStatus
    /// The rest, as the store reads it: compare marks of one store only.
    public var stamp: String

    public init(status: RunStatus, stamp: String) {
        self.status = status
        self.stamp = stamp
    }
}
