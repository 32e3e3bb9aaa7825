import Testing
import WfloCore
import WfloDSL

@Suite struct HTTPFieldTests {
    func parse(_ yaml: String) throws -> WorkflowDefinition {
        try WorkflowParser().parse(yaml: yaml, file: "w.yaml")
    }

    func problems(_ yaml: String) -> [String] {
        diagnostics(yaml).map(\.description)
    }

    func http(_ definition: WorkflowDefinition, _ id: String = "call") -> HTTPStepDefinition? {
        if case .http(let http)? = definition.step(id)?.kind { return http }
        return nil
    }

    @Test func theIssuesContractParses() throws {
        let definition = try parse("""
            name: w
            inputs:
              port: {type: integer}
              topic: {default: batteries}
            egress:
              allow: ["127.0.0.1", "*.example.com"]   # loopback/private addresses only when listed
            steps:
              - id: call
                type: http
                method: POST
                url: "http://127.0.0.1:{{inputs.port}}/anything"
                headers:
                  Authorization: "Bearer {{secrets.API_TOKEN}}"
                json: {topic: "{{inputs.topic}}"}
                expect_status: [200]
            """)
        let call = try #require(http(definition))
        #expect(call.method == "POST")
        #expect(call.url.references == [["inputs", "port"]])
        #expect(call.headers.map(\.name) == ["Authorization"])
        #expect(call.headers.first?.value.references == [["secrets", "API_TOKEN"]])
        #expect(call.expectStatus == [200])
        #expect(call.followRedirects == 5)
        #expect(call.maxResponseBytes == 10 << 20)
        #expect(!call.isIdempotent)
        let egress = EgressPolicy(allow: ["127.0.0.1", "*.example.com"])
        #expect(definition.egress == egress)
        #expect(call.egress == egress, "the workflow's egress travels with the step")
        #expect(call.circuitBreaker == .default)
        guard case .json(let body)? = call.body else {
            Issue.record("json: is not read as a JSON body")
            return
        }
        #expect(body.templates.map(\.source) == ["{{inputs.topic}}"])
    }

    @Test func everyOptionalFieldIsRead() throws {
        let definition = try parse("""
            name: w
            circuit_breaker: {failure_threshold: 3, window: 2m, open_for: 45s}
            approval_policy: {non_get_http: false}
            steps:
              - id: call
                type: http
                url: "https://api.example.com/v1/items"
                query: {page: 2, q: x}
                body: "plain text"
                expect_status: 204
                extract: {id: /data/0/id, name: data.0.name}
                follow_redirects: 0
                max_response_bytes: 512KiB
                idempotent: true
                timeout: 5s
                fallback: {items: []}
            """)
        let call = try #require(http(definition))
        #expect(call.method == "GET")
        #expect(call.query.map(\.name) == ["page", "q"])
        #expect(call.query.map(\.value.source) == ["2", "x"])
        #expect(call.body == .text(Template(literal: "plain text")))
        #expect(call.expectStatus == [204])
        #expect(call.extract == [HTTPExtraction(name: "id", path: "/data/0/id"), HTTPExtraction(name: "name", path: "data.0.name")])
        #expect(call.extract.map(\.components) == [["data", "0", "id"], ["data", "0", "name"]])
        #expect(call.followRedirects == 0)
        #expect(call.maxResponseBytes == 512 * 1024)
        #expect(call.idempotent == true)
        #expect(call.fallback == .object(["items": .array([])]))
        #expect(call.circuitBreaker == CircuitBreakerSettings(failureThreshold: 3, window: 120, openFor: 45))
        #expect(definition.step("call")?.timeout == 5)
        #expect(definition.approvalPolicy?.nonGetHTTP == false)
    }

    @Test func secretsAreAllowedInTheRequestOnly() {
        let found = problems("""
            name: w
            steps:
              - id: call
                type: http
                url: "https://api.example.com/?k={{secrets.KEY}}"
                query: {k: "{{secrets.KEY}}"}
                headers: {Authorization: "Bearer {{secrets.KEY}}"}
                json: {k: "{{secrets.KEY}}"}
                fallback: "{{secrets.KEY}}"
              - id: say
                type: transform
                output: "{{secrets.KEY}}"
            """)
        #expect(found.count == 2, "\(found)")
        #expect(found.first?.hasPrefix("w.yaml:9:") == true, "\(found)")
        #expect(found.allSatisfy { $0.contains("{{secrets.KEY}}: secrets are only for http steps") })
        #expect(found.last?.hasPrefix("w.yaml:12:") == true)
    }

    @Test func aSecretNeedsAName() {
        let found = problems("""
            name: w
            steps:
              - id: call
                type: http
                url: "https://api.example.com/"
                headers: {Authorization: "Bearer {{secrets.A.B}}"}
            """)
        #expect(found.count == 1)
        #expect(found.first?.contains("write {{secrets.NAME}}") == true, "\(found)")
    }

    @Test(arguments: [
        ("method: FETCH", "w.yaml:5:13: error: step 'call': unknown HTTP method 'FETCH'; write one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        ("url: \"ftp://x.example.com/\"", "w.yaml:5:10: error: step 'call': 'url' must be an absolute http:// or https:// URL"),
        ("expect_status: [200, 700]", "w.yaml:5:26: error: step 'call': 'expect_status' holds '700', not an HTTP status (100–599)"),
        ("extract: {status: /a}", "w.yaml:5:15: error: step 'call': extract name 'status' is already an output field of http steps"),
        ("follow_redirects: -1", "w.yaml:5:23: error: step 'call': 'follow_redirects' must be how many redirects to follow"),
        ("max_response_bytes: lots", "w.yaml:5:25: error: step 'call': 'max_response_bytes' must be a size above zero"),
        ("headers: {\"Bad Header\": x}", "w.yaml:5:15: error: step 'call': 'headers': 'Bad Header' is not a valid header name"),
        ("idempotent: maybe", "w.yaml:5:17: error: step 'call': 'idempotent' must be true or false"),
        ("model: gpt-4o", "w.yaml:5:5: error: step 'call': 'model' is a field of llm steps, not of http steps"),
    ])
    func badFieldsAreReportedWhereTheyAreWritten(line: String, expected: String) {
        let found = problems("""
            name: w
            steps:
              - id: call
                type: http
                \(line)
                \(line.hasPrefix("url:") ? "" : "url: \"https://api.example.com/\"")
            """)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test func aURLIsRequired() {
        #expect(problems("""
            name: w
            steps:
              - id: call
                type: http
            """) == ["w.yaml:3:5: error: step 'call' is missing the required field 'url' (e.g. url: \"https://api.example.com/v1/items\")"])
    }

    @Test func bodyAndJSONCannotBothBeGiven() {
        let found = problems("""
            name: w
            steps:
              - id: call
                type: http
                method: POST
                url: "https://api.example.com/"
                body: "a"
                json: {a: 1}
            """)
        #expect(found.first?.hasPrefix("w.yaml:8:5: error: step 'call': use either 'body' (text) or 'json'") == true, "\(found)")
    }

    @Test func aRetriedPostMustBeIdempotent() throws {
        let yaml = """
            name: w
            steps:
              - id: call
                type: http
                method: POST
                url: "https://api.example.com/"
                retry: {maximum_attempts: 3}
            """
        let found = problems(yaml)
        #expect(found.first?.hasPrefix("w.yaml:7:5: error: step 'call': a POST is not retried") == true, "\(found)")
        #expect(found.first?.contains("idempotent: true") == true)
        #expect(problems(yaml + "\n    idempotent: true").isEmpty)
        #expect(problems(yaml + "\n    headers: {Idempotency-Key: abc}").isEmpty)
    }

    @Test(arguments: [
        ("egress: {allow: [\"https://api.example.com\"]}", "w.yaml:2:17: error: 'egress': 'allow': 'https://api.example.com' is not a host"),
        ("egress: {deny: [\"api.*.com\"]}", "w.yaml:2:16: error: 'egress': 'deny': 'api.*.com': a wildcard is only allowed as the first label"),
        ("egress: {allow: [\"10.0.0.0/33\"]}", "w.yaml:2:17: error: 'egress': 'allow': '10.0.0.0/33' is not a host"),
        ("egress: {schemes: [ftp]}", "w.yaml:2:19: error: 'egress': 'schemes' may list http and https"),
        ("egress: {allowed: [x.com]}", "w.yaml:2:10: error: unknown field 'allowed' in 'egress'"),
        ("circuit_breaker: {failure_threshold: 0}", "w.yaml:2:38: error: 'circuit_breaker': 'failure_threshold' must be a positive whole number"),
        ("circuit_breaker: {open_for: soon}", "w.yaml:2:29: error: 'circuit_breaker': 'open_for' must be a duration"),
        ("approval_policy: {non_get_http: sometimes}", "w.yaml:2:33: error: 'approval_policy': 'non_get_http' must be true or false"),
    ])
    func badWorkflowBlocksAreReported(line: String, expected: String) {
        let found = problems("""
            name: w
            \(line)
            steps:
              - id: call
                type: http
                url: "https://api.example.com/"
            """)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test func httpStepsDependOnTheStepsTheirTemplatesName() throws {
        let definition = try parse("""
            name: w
            steps:
              - id: first
                type: transform
                output: {id: 7}
              - id: call
                type: http
                url: "https://api.example.com/items/{{steps.first.output.id}}"
                fallback: "{{steps.first.output}}"
            """)
        #expect(definition.step("call")?.allDependencies == ["first"])
    }
}
