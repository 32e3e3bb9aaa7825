import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore
import WfloTesting

/// Issue 22, items 2 and 3: a secret full of reserved characters is masked in every encoding, and
/// an error's excerpt is masked before it is cut.
@Suite(.timeLimit(.minutes(1)))
struct HostileSecretTests {
    static let secret = #"P@ss w0rd!/?#&=+%:;,[]"'\$*-tok~9"#

    /// The secret's encodings, worked out here independently of the redactor.
    static func encodings(of value: String) -> [String] {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let percent = value.addingPercentEncoding(withAllowedCharacters: unreserved)!
        let jsonEscaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return [value, percent, percent.lowercased().replacingOccurrences(of: "p%40ss", with: "P%40ss"),
                percent.replacingOccurrences(of: "%20", with: "+"), jsonEscaped,
                jsonEscaped.replacingOccurrences(of: "/", with: "\\/"), Data(value.utf8).base64EncodedString()]
    }

    @Test func everyEncodingOfTheSecretIsMasked() {
        let redactor = Redactor(secrets: ["S": Self.secret])
        for form in Self.encodings(of: Self.secret) {
            #expect(redactor.redact("<\(form)>") == "<[secret:S]>", "\(form)")
        }
        // Inside basic auth: base64 of user:secret keeps at most a few edge characters of the secret's part.
        for user in ["u", "us", "use", "user"] {
            let basic = Data("\(user):\(Self.secret)".utf8).base64EncodedString()
            let masked = redactor.redact("Basic \(basic)")
            #expect(masked.contains("[secret:S]"), "\(user): \(masked)")
            #expect(!masked.contains(String(basic.dropFirst(4).prefix(12))), "\(user): \(masked)")
        }
    }

    @Test func aSecretInEveryPartOfARequestIsMaskedInAllTheRunWrites() async throws {
        try await HTTPHarness.with { h in
            let secrets = SecretStore(environment: ["WFLO_SECRET_S": Self.secret], filePath: nil)
            let result = try await h.run(h.workflow("""
                    method: POST
                    url: "\(h.base)/anything"
                    query: {s: "{{secrets.S}}"}
                    headers: {X-Key: "{{secrets.S}}", Idempotency-Key: k1}
                    json: {token: "{{secrets.S}}"}
            """), secrets: secrets)
            #expect(result.status == .completed, "\(result.error ?? "")")
            // The service got the real value.
            let sent = try #require(h.service.requests().first)
            #expect(sent.headers["x-key"] == Self.secret)
            #expect(sent.uri.contains(Redactor.percentEncode(Self.secret)))
            let written = try await h.journalText(result.runID) + (result.outputs?.encoded() ?? "")
                + h.observer.all.map { "\($0)" }.joined(separator: "\n")
            for form in Self.encodings(of: Self.secret) {
                #expect(!written.contains(form), "'\(form)' is in what the run wrote")
            }
            #expect(written.contains("[secret:S]"))
        }
    }

    /// The 404 body is "no route for GET <path>": the path is padded so the cut at 300 falls at every
    /// character of the token, and one past it (each cut point a case of its own).
    @Test(arguments: 0...HTTPHarness.token.count)
    func theErrorExcerptIsMaskedBeforeItIsCutAtEveryCutPoint(cut: Int) async throws {
        let token = HTTPHarness.token
        try await HTTPHarness.with { h in
            let before = "no route for GET /pad/".count
            do {
                let padding = String(repeating: "p", count: 300 - before - cut)
                let result = try await h.run(h.workflow("""
                        url: "\(h.base)/pad/\(padding){{secrets.API_TOKEN}}"
                """))
                #expect(result.status == .failed)
                let error = result.error ?? ""
                let journal = try await h.journalText(result.runID)
                for length in 4...token.count {
                    for start in 0...(token.count - length) where length >= 6 {
                        let piece = String(token.dropFirst(start).prefix(length))
                        #expect(!error.contains(piece) && !journal.contains(piece), "cut \(cut): '\(piece)' leaked")
                    }
                }
            }
        }
    }
}
