import Foundation
import Hummingbird
import WfloApp
import WfloCore

/// An error as the API answers it: a status and `{"error": {"code", "message"}}`. Every error a
/// handler throws becomes one (``APIError/init(_:)``), so no route answers otherwise.
public struct APIError: Error, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    /// Stable, for programs: `unauthorized`, `forbidden`, `not_found`, `invalid_input`, `already_decided`, ….
    public var code: String
    /// For people: what is wrong and what to do.
    public var message: String
    /// Extra fields beside `code` and `message` (the first decision of a 409).
    public var details: [String: JSONValue] = [:]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, details: [String: JSONValue] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    /// The API's answer to any error: services' ``AppError``s and the journal's ``StoreError``s by
    /// their codes, Hummingbird's own (no such route, body too large) by their status.
    public init(_ error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as AppError:
            switch error.code {
            case .notFound: self.init(.notFound, "not_found", error.message)
            case .invalidInput: self.init(.unprocessableContent, "invalid_input", error.message)
            case .notAnApprover: self.init(.forbidden, "not_an_approver", error.message)
            case .alreadyDecided: self.init(.conflict, "already_decided", error.message)
            case .stillRunning: self.init(.conflict, "still_running", error.message)
            case .forbidden: self.init(.forbidden, "forbidden", error.message)
            default: self.init(.internalServerError, error.code.description, error.message)
            }
        case let error as StoreError:
            switch error.code {
            case .notFound: self.init(.notFound, "not_found", error.message)
            case .ambiguous: self.init(.unprocessableContent, "ambiguous", error.message)
            case .conflict: self.init(.conflict, "conflict", error.message)
            case .busy: self.init(.serviceUnavailable, "busy", error.message + "; try again")
            default: self.init(.internalServerError, error.code.rawValue, error.message)
            }
        case let error as any HTTPResponseError:
            let status = error.status
            let code = switch status {
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            case .contentTooLarge: "too_large"
            case .badRequest: "bad_request"
            default: "http_\(status.code)"
            }
            let message = (error as? HTTPError)?.body ?? (status == .notFound ? "no such route; GET /openapi.json lists them" : status.reasonPhrase)
            self.init(status, code, message)
        default:
            self.init(.internalServerError, "internal", "\(error)")
        }
    }

    public var json: JSONValue {
        var error: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        for (key, value) in details { error[key] = value }
        return ["error": .object(error)]
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(json, status: status)
        for field in headers { response.headers.append(field) }
        return response
    }
}

/// JSON bodies with the journal's own encoder (sorted keys, exact decimals as strings).
enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: value.encoded(sorted: true) + "\n")))
    }

    /// A 200 with `value` and its ``ETag`` (a hash of the body), or 304 Not Modified without a body
    /// when the request's `If-None-Match` names that tag.
    static func conditional(_ value: JSONValue, request: Request) -> Response {
        conditional(Body(value), request: request)
    }

    /// An answer's encoded text and its entity tag, made once (and kept, ``JournalReadCache``).
    struct Body: Sendable {
        var text: String
        var tag: String

        init(_ value: JSONValue) {
            text = value.encoded(sorted: true) + "\n"
            tag = ETag.of([text])
        }
    }

    static func conditional(_ body: Body, request: Request) -> Response {
        if ETag.matches(request.headers[.ifNoneMatch], body.tag) {
            return Response(status: .notModified, headers: [.eTag: body.tag, .cacheControl: "no-cache"])
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .eTag: body.tag, .cacheControl: "no-cache"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: body.text)))
    }

    /// The request's body as a JSON object (an empty body reads as `{}`).
    /// - Throws: ``APIError`` 400 naming the line and column of what does not parse, or saying it is not an object.
    static func object(_ request: Request, limit: Int = 4 << 20) async throws -> [String: JSONValue] {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        let text = String(buffer: buffer)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return [:] }
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw APIError(.badRequest, "bad_request", "the request body is not JSON: \(error)")
        }
        guard let object = value.objectValue else {
            throw APIError(.badRequest, "bad_request", "the request body must be a JSON object")
        }
        return object
    }
}

/// Turns whatever a handler throws into the API's error body (see ``APIError/init(_:)``).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try APIError(error).response(from: request, context: context)
        }
    }
}
