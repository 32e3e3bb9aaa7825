"""An independent OTLP/HTTP receiver for wflo's tests.

Decodes OTLP/HTTP protobuf bodies with the `opentelemetry-proto` package from PyPI (not with the
exporter's own code) and appends every span, and every metric data point, as one JSON object a
line to OUT_DIR/spans.jsonl and OUT_DIR/metrics.jsonl. Listens on 127.0.0.1 on a free port and
writes the port to OUT_DIR/port once it accepts connections.

Usage: python scripts/otlp_receiver.py OUT_DIR   (a venv from scripts/python-venv.sh DIR opentelemetry-proto==1.45.2)
"""
import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OUT = sys.argv[1]
# A slow collector, for tests of what a client queues meanwhile: seconds to wait before answering an export of spans.
DELAY = float(os.environ.get("OTLP_RECEIVER_DELAY", "0"))
LOCK = threading.Lock()


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    raw = getattr(any_value, kind)
    if kind == "array_value":
        return [value(v) for v in raw.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in raw.values}
    if kind == "bytes_value":
        return raw.hex()
    return raw


def attributes(pairs):
    return {kv.key: value(kv.value) for kv in pairs}


def append(name, records):
    with LOCK, open(os.path.join(OUT, name), "a", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, sort_keys=True) + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        if self.headers.get("Content-Type", "") != "application/x-protobuf":
            self.send_error(415, "expected application/x-protobuf")
            return
        if self.path == "/v1/traces":
            if DELAY > 0:
                time.sleep(DELAY)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            records = []
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        records.append({
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "status_code": span.status.code,
                            "status_message": span.status.message,
                            "start_ns": span.start_time_unix_nano,
                            "end_ns": span.end_time_unix_nano,
                            "attributes": attributes(span.attributes),
                            "events": [{"name": e.name, "attributes": attributes(e.attributes)} for e in span.events],
                            "service_name": resource.get("service.name"),
                        })
            append("spans.jsonl", records)
            reply = ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/metrics":
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            records = []
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data")
                        data = getattr(metric, kind)
                        for point in data.data_points:
                            record = {"name": metric.name, "kind": kind, "attributes": attributes(point.attributes)}
                            if kind in ("sum", "gauge"):
                                record["value"] = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                            else:
                                record["count"] = point.count
                                record["sum"] = point.sum
                            records.append(record)
            append("metrics.jsonl", records)
            reply = ExportMetricsServiceResponse().SerializeToString()
        else:
            self.send_error(404, "no such OTLP path")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(OUT, "port.tmp"), "w") as port_file:
    port_file.write(str(server.server_address[1]))
os.rename(os.path.join(OUT, "port.tmp"), os.path.join(OUT, "port"))
server.serve_forever()
