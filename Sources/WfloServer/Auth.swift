import Foundation
import Hummingbird
import WfloApp
import WfloCore

/// Who is calling: the token of `Authorization: Bearer TOKEN`, checked against the role a route needs.
struct Authenticator: Sendable {
    let tokens: TokenService
    /// Tokens read while the journal is unchanged (nil: every call reads the journal).
    var kept: JournalReadCache? = nil

    /// The caller's token when its role allows `needed`.
    /// - Throws: ``APIError`` 401 when the header is missing or the token unknown or revoked,
    ///   403 when its role is below `needed`.
    /// - Parameter stamp: the journal's ``RunPageStore/changeStamp()`` read for this request: a token
    ///   read at the same stamp is not read again (a revoke changes the stamp).
    func require(_ needed: TokenRole, _ request: Request, stamp: UInt64? = nil) async throws -> APITokenRecord {
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("this call needs an API token: send Authorization: Bearer TOKEN (make one with `wflo tokens create NAME --role \(needed.rawValue)`)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("the Authorization header must be `Bearer TOKEN`")
        }
        let text = String(parts[1]).trimmingCharacters(in: .whitespaces)
        // Kept under the token's hash, as the journal keeps it: the cache never holds a token itself.
        let key = "token:" + TokenService.hash(text)
        let token: APITokenRecord
        if let known: APITokenRecord = kept?.value(key, at: stamp) {
            token = known
        } else {
            guard let read = try await tokens.authenticate(text) else {
                throw Self.unauthorized("the API token is unknown or revoked; `wflo tokens list` shows the live ones")
            }
            kept?.keep(key, read, at: stamp)
            token = read
        }
        try Self.check(token, needs: needed)
        return token
    }

    static func check(_ token: APITokenRecord, needs needed: TokenRole) throws {
        guard token.role.allows(needed) else {
            throw APIError(.forbidden, "forbidden",
                           "the token '\(token.name)' has the role \(token.role.rawValue); this call needs \(needed.rawValue) or above")
        }
    }

    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, "unauthorized", message)
        error.headers[.wwwAuthenticate] = "Bearer realm=\"wflo\""
        return error
    }
}
