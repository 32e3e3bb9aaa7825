import Foundation
import Testing
import WfloApp
import WfloCore
import WfloHTTP
import WfloPricing
import WfloStore

/// `WFLO_HTTP_CONNECTIONS_PER_HOST`: the most model calls and http requests in flight to one host.
struct ConnectionSettingsTests {
    @Test func unsetOrBlankIsTheDefault() throws {
        #expect(try WfloEnvironment.connectionsPerHost(environment: [:]) == AsyncHTTPTransport.defaultMaximumConnectionsPerHost)
        #expect(try WfloEnvironment.connectionsPerHost(environment: ["WFLO_HTTP_CONNECTIONS_PER_HOST": " "]) == 256)
        #expect(try WfloEnvironment.connectionsPerHost(environment: ["WFLO_HTTP_CONNECTIONS_PER_HOST": "64"]) == 64)
        #expect(try WfloEnvironment.connectionsPerHost(environment: ["WFLO_HTTP_CONNECTIONS_PER_HOST": "4096"]) == 4096)
    }

    @Test(arguments: ["0", "-3", "lots", "12.5", "4097"])
    func aValueThatIsNotACountIsAClearError(text: String) throws {
        #expect {
            try WfloEnvironment.connectionsPerHost(environment: ["WFLO_HTTP_CONNECTIONS_PER_HOST": text])
        } throws: { error in
            guard let error = error as? AppError else { return false }
            return error.code == .configuration && error.message.contains("WFLO_HTTP_CONNECTIONS_PER_HOST is '\(text)'")
                && error.message.contains("1 to 4096")
        }
    }

    /// The environment refuses it before any HTTP client exists (one left unclosed would trap).
    @Test func theEnvironmentRefusesABadValue() async throws {
        let store = try SQLiteJournalStore.inMemory()
        let pricing = try PricingTable(json: [:], source: "empty table")
        #expect(throws: AppError.self) {
            _ = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["WFLO_HTTP_CONNECTIONS_PER_HOST": "none"]))
        }
        let fine = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["WFLO_HTTP_CONNECTIONS_PER_HOST": "8"]))
        #expect(fine.connectionsPerHost == 8)
        try await fine.close()
    }
}
