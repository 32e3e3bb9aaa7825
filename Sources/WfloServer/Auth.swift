import Foundation
import Hummingbird
import WfloApp
import WfloCore

/// Who is calling: the token of `Authorization: Bearer TOKEN`, checked against the role a route needs.
struct Authenticator: Sendable {
    let tokens: TokenService

    /// The caller's token when its role allows `needed`.
    /// - Throws: ``APIError`` 401 when the header is missing or the token unknown or revoked,
    ///   403 when its role is below `needed`.
    func require(_ needed: TokenRole, _ request: Request) async throws -> APITokenRecord {
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("this call needs an API token: send Authorization: Bearer TOKEN (make one with `wflo tokens create NAME --role \(needed.rawValue)`)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("the Authorization header must be `Bearer TOKEN`")
        }
        guard let token = try await tokens.authenticate(String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
            throw Self.unauthorized("the API token is unknown or revoked; `wflo tokens list` shows the live ones")
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
