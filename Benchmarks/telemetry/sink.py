"""A local OTLP/HTTP endpoint for the telemetry benchmark: reads each export's body, counts it,
answers 200 with an empty protobuf message. It does not decode (the tests' receiver does), so the
benchmark measures wflo's side of exporting. Prints its port on stdout's first line; on SIGTERM
prints the requests and bytes received."""
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

received = {"requests": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        received["requests"] += 1
        received["bytes"] += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def stop(*_):
    print(f"sink: {received['requests']} requests, {received['bytes']} bytes", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = HTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
