import Testing
import WfloEngine
@testable import WfloTelemetry

/// What the standard OTEL_* variables switch on, and the errors for values wflo cannot use.
struct TelemetrySettingsTests {
    @Test func unsetEndpointsExportNothing() throws {
        let settings = try TelemetrySettings(environment: ["OTEL_SERVICE_NAME": "x"])
        #expect(!settings.exportsTraces && !settings.exportsMetrics)
        #expect(settings.serviceName == "x")
        #expect(try TelemetrySettings(environment: [:]).serviceName == "wflo")
    }

    @Test func theBaseEndpointGivesEachSignalItsPath() throws {
        let settings = try TelemetrySettings(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"])
        #expect(settings.tracesEndpoint == "http://127.0.0.1:4318/v1/traces")
        #expect(settings.metricsEndpoint == "http://127.0.0.1:4318/v1/metrics")
    }

    @Test func aSignalsOwnEndpointIsUsedAsItIs() throws {
        let settings = try TelemetrySettings(environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom"])
        #expect(settings.tracesEndpoint == "http://collector:4318/custom")
        #expect(settings.metricsEndpoint == nil)
    }

    @Test func gRPCAndBadURLsAreRefusedNamingTheVariable() {
        #expect(throws: TelemetryError.self) { try TelemetrySettings(environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]) }
        do {
            _ = try TelemetrySettings(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"])
            Issue.record("a URL without a scheme was accepted")
        } catch {
            #expect(error.description.contains("OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318"))
            #expect(error.description.contains("http://"))
        }
    }

    @Test func theSamplerVariablesAreReadAndABadOneIsNamed() throws {
        #expect(try TelemetrySettings(environment: [:]).sampler == .default)
        #expect(try TelemetrySettings(environment: ["OTEL_TRACES_SAMPLER": "always_off"]).sampler == TraceSampler(root: .alwaysOff, parentBased: false))
        #expect(try TelemetrySettings(environment: ["OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"]).sampler
                == TraceSampler(root: .traceIDRatio(0.25), parentBased: true))
        #expect(try TelemetrySettings(environment: ["OTEL_TRACES_SAMPLER": "traceidratio"]).sampler == TraceSampler(root: .traceIDRatio(1), parentBased: false))
        #expect(throws: TelemetryError.unsupported(variable: "OTEL_TRACES_SAMPLER_ARG", value: "2",
                                                   hint: "give the share of traces to keep, a number from 0 to 1 such as 0.25")) {
            try TelemetrySettings(environment: ["OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"])
        }
        do {
            _ = try TelemetrySettings(environment: ["OTEL_TRACES_SAMPLER": "jaeger_remote"])
            Issue.record("an unknown sampler was accepted")
        } catch {
            #expect(error.description.contains("OTEL_TRACES_SAMPLER=jaeger_remote"))
            #expect(error.description.contains("parentbased_always_on"))
        }
    }

    @Test func resourceAttributesAndTheServiceNameFollowTheSpecsPrecedence() throws {
        let fromResource = try TelemetrySettings(environment: ["OTEL_RESOURCE_ATTRIBUTES": "service.name=billing, deployment.environment=prod%20eu"])
        #expect(fromResource.serviceName == "billing")
        #expect(fromResource.resourceAttributes == ["service.name": "billing", "deployment.environment": "prod eu"])
        let named = try TelemetrySettings(environment: ["OTEL_RESOURCE_ATTRIBUTES": "service.name=billing", "OTEL_SERVICE_NAME": "wflo-a"])
        #expect(named.serviceName == "wflo-a" && named.resourceAttributes["service.name"] == "wflo-a")
        #expect(try TelemetrySettings(environment: [:]).resourceAttributes == ["service.name": "wflo"])
        #expect(throws: TelemetryError.self) { try TelemetrySettings(environment: ["OTEL_RESOURCE_ATTRIBUTES": "no-equals-sign"]) }
    }

    @Test func theSpanQueueBatchAndHeadersHaveDefaultsAndOverrides() throws {
        let defaults = try TelemetrySettings(environment: [:])
        #expect(defaults.spanQueueSize == 16_384 && defaults.spanBatchSize == 4_096)
        #expect(defaults.spanScheduleDelay == .seconds(1) && defaults.tracesTimeout == .seconds(3))
        let set = try TelemetrySettings(environment: ["OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "500",
                                                      "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=2", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=3",
                                                      "OTEL_EXPORTER_OTLP_TIMEOUT": "1500"])
        #expect(set.spanQueueSize == 100 && set.spanBatchSize == 100, "a batch is never larger than the queue")
        #expect(set.tracesHeaders == ["a": "1", "b": "3"])
        #expect(set.tracesTimeout == .milliseconds(1500))
        #expect(throws: TelemetryError.self) { try TelemetrySettings(environment: ["OTEL_BSP_MAX_QUEUE_SIZE": "lots"]) }
    }

    @Test func prometheusNamesHaveNoDots() {
        #expect(Telemetry.prometheusName("gen_ai.client.token.usage") == "gen_ai_client_token_usage")
        #expect(Telemetry.prometheusName("wflo_cost_usd_total") == "wflo_cost_usd_total")
    }

    /// The byte-by-byte mapping of ASCII names gives what the character-by-character one does.
    @Test func prometheusNamesOfEveryASCIICharacterAndBeyond() {
        func byCharacter(_ name: String) -> String {
            String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
        }
        let ascii = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        for one in ascii { #expect(Telemetry.prometheusName("a" + one + "b") == byCharacter("a" + one + "b"), "\(one.unicodeScalars.first!.value)") }
        #expect(Telemetry.prometheusName(ascii.joined()) == byCharacter(ascii.joined()))
        for name in ["café.latte", "gen_ai.ü", "名前.x", "", "a:b_c9"] { #expect(Telemetry.prometheusName(name) == byCharacter(name), "\(name)") }
        #expect(Telemetry.prometheusName("café.latte") == "café_latte")
    }

    @Test func traceparentsAreCheckedToTheLetter() {
        #expect(RunTelemetry.isValidTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(!RunTelemetry.isValidTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"))
        #expect(!RunTelemetry.isValidTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"))
        #expect(!RunTelemetry.isValidTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"))
    }
}

import Foundation
import WfloCore

/// `trace_context:` on http steps: optional in the definition, so definitions journaled before it still decode.
struct TraceContextFieldTests {
    @Test func aDefinitionEncodedWithoutTheFieldDecodesWithTraceContextOn() throws {
        let definition = HTTPStepDefinition(url: try Template("http://127.0.0.1/x"))
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(definition)) as? [String: Any])
        #expect(object["traceContext"] == nil)
        object["traceContext"] = nil
        let decoded = try JSONDecoder().decode(HTTPStepDefinition.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(decoded.propagatesTraceContext)
        var off = definition
        off.traceContext = false
        #expect(!(try JSONDecoder().decode(HTTPStepDefinition.self, from: JSONEncoder().encode(off))).propagatesTraceContext)
    }
}
