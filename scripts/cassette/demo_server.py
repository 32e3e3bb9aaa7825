#!/usr/bin/env python3
"""A stand-in for the providers, used once to record the cassettes of Examples/.

For requests that offer tools (Examples/agent) it plays a researcher: fetch the city's page, save a
note, then finish (Examples/mcp: call the MCP server's `population`, then finish); it also serves that city wiki on GET /page/NAME and POST /notes.

It answers OpenAI chat completions and Anthropic messages on loopback with hand-written text
and usage figures of the size the real APIs report for such prompts (tokens ~ bytes / 4).
Re-record with:  scripts/cassette/record_demo.sh  (and record_publish.sh)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

ANSWERS = {
    "Outline": (
        "1. What solid-state batteries are: a solid electrolyte instead of a liquid one.\n"
        "2. Why they matter: energy density, safety, charging speed.\n"
        "3. Where they stand: pilot lines, costs, manufacturing hurdles.\n"
        "4. What to watch: dendrites, interfaces, first vehicles."
    ),
    "List three facts": (
        "- Solid electrolytes such as sulfides and oxides do not burn like liquid ones.\n"
        "- A lithium-metal anode can raise energy density by 30-50% over graphite cells.\n"
        "- Interface resistance and dendrite growth are the main obstacles to mass production."
    ),
    "Write the brief": (
        "Solid-state batteries replace the flammable liquid electrolyte of lithium-ion cells with a "
        "solid one. That makes room for lithium-metal anodes, which promise 30-50% more energy per "
        "kilogram, faster charging and fewer fires. The obstacles are practical: resistance where the "
        "solid layers meet, dendrites that still find their way through, and manufacturing at scale. "
        "Pilot lines exist; the first cars with these cells are expected later this decade."
    ),
    "Draft a two-sentence announcement": (
        "wflo 0.1 is out: run AI-agent workflows under a hard budget, with every cent journaled. "
        "Kill it anywhere, resume, and nothing runs or is charged twice."
    ),
    "Announce:": "Posted to #announcements: wflo 0.1 is out — hard budgets, durable runs, human approvals.",
    "Classify this support ticket": '{"kind": "bug", "summary": "CSV export crashes on empty reports"}',
    "Reply to a bug report": (
        "Thanks for the report: exporting an empty report to CSV should give an empty file, not a crash. "
        "We have reproduced it and the fix ships in the next release; until then, add one row before exporting."
    ),
    "Reply to a feature request": "Thanks for the idea: we have added it to the roadmap and will write back when it ships.",
    "Write a Python program": (
        "import statistics\n"
        "prices = [12.5, 9.99, 14.0, 11.25, 10.75]\n"
        "print(f\"mean {statistics.mean(prices):.2f}\")\n"
        "print(f\"median {statistics.median(prices):.2f}\")\n"
        "open('summary', 'w').write(f\"{len(prices)} prices, max {max(prices):.2f}\\n\")\n"
    ),
}

PRODUCTS = {
    "trail running shoes": "Grippy, light trail running shoes that drain fast and hold steady on loose rock.",
    "espresso grinder": "A flat-burr espresso grinder with stepless adjustment and almost no retention.",
    "e-reader": "A glare-free e-reader with a warm light, weeks of battery and room for thousands of books.",
    "standing desk": "A quiet two-motor standing desk that moves from sitting to standing in twelve seconds.",
}


def answer_for(text):
    for product, line in PRODUCTS.items():
        if "product description of " + product in text:
            return line
    if "Translate into French:" in text:
        return "Traduction : " + text.split("Translate into French:", 1)[1].strip()
    for key, value in ANSWERS.items():
        if key in text:
            return value
    return "I have no answer for that."


def tokens(text):
    return max(1, len(text.encode()) // 4)


PAGES = {
    "Paris": "Paris is the capital of France. Population (city proper, 1 January 2023 census): 2,102,650. "
             "Area: 105.4 km2. See also: Lyon, Marseille.",
    "Lyon": "Lyon is the third-largest city of France. Population (2023): 522,250.",
}

NOTE = "Paris: 2,102,650 people (city wiki, 2023 census); doubled: 4,205,300."
ANSWER = "Paris has 2,102,650 inhabitants (2023 census, city wiki page 'Paris'); doubled, that is 4,205,300."


def tool_results(messages):
    count = 0
    for m in messages:
        if m.get("role") == "tool":
            count += 1
        elif isinstance(m.get("content"), list):
            count += sum(1 for block in m["content"] if block.get("type") == "tool_result")
    return count


def offered(body):
    return [t.get("function", t).get("name") for t in body.get("tools", [])]


def agent_turn(body):
    """The next call of the scripted researcher: (text, name, arguments)."""
    done = tool_results(body["messages"])
    if "population" in offered(body):  # Examples/mcp: one call of the MCP server's tool, then the answer
        if done == 0:
            return "I'll ask the city facts server.", "population", {"city": "Paris"}
        return "", "finish", {"answer": "Paris has 2,102,650 inhabitants (city proper, 2023 census, from the city facts server)."}
    if done == 0:
        return "I'll read the city's wiki page first.", "fetch_page", {"path": "Paris"}
    if done == 1:
        return "The page gives 2,102,650. Doubling it in the sandbox.", "compute", {"code": "print(2102650 * 2)"}
    if done == 2:
        return "4205300. Saving a note.", "save_note", {"text": NOTE}
    return "", "finish", {"answer": ANSWER}


def send_json(handler, status, reply):
    data = json.dumps(reply).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def agent_reply(self, body, prompt):
    text, name, arguments = agent_turn(body)
    spoken = tokens(text) if text else 0
    out_tokens = spoken + tokens(json.dumps(arguments)) + 6
    seq = len(body["messages"])
    if self.path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": text or None, "refusal": None,
                   "tool_calls": [{"id": "call_demo%d" % seq, "type": "function",
                                   "function": {"name": name, "arguments": json.dumps(arguments)}}]}
        in_tokens = tokens(prompt) + 8 + 120
        return {"id": "chatcmpl-agent%d" % seq, "object": "chat.completion", "created": 1763900000,
                "model": body["model"] + "-2024-07-18",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
                "usage": {"prompt_tokens": in_tokens, "completion_tokens": out_tokens, "total_tokens": in_tokens + out_tokens,
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                        "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
                "system_fingerprint": "fp_demo"}
    blocks = ([{"type": "text", "text": text}] if text else []) + [
        {"type": "tool_use", "id": "toolu_demo%d" % seq, "name": name, "input": arguments}]
    return {"id": "msg_agent%d" % seq, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": blocks, "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": tokens(prompt) + 6 + 346, "output_tokens": out_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/page/") and name in PAGES:
            data = PAGES[name].encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            send_json(self, 404, {"error": "no such page"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path == "/notes":
            send_json(self, 201, {"saved": True, "id": 1, "text": body.get("text", "")})
            return
        if body.get("tools"):
            prompt = json.dumps(body["messages"])
            send_json(self, 200, agent_reply(self, body, prompt))
            return
        prompt = " ".join(m["content"] if isinstance(m["content"], str) else "" for m in body["messages"])
        text = answer_for(prompt)
        if self.path.endswith("/chat/completions"):
            reply = {
                "id": "chatcmpl-demo%d" % tokens(prompt), "object": "chat.completion", "created": 1763900000,
                "model": body["model"] + "-2024-07-18",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text, "refusal": None}}],
                "usage": {"prompt_tokens": tokens(prompt) + 8, "completion_tokens": tokens(text),
                          "total_tokens": tokens(prompt) + 8 + tokens(text),
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                        "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
                "system_fingerprint": "fp_demo",
            }
        else:
            system = body.get("system") or ""
            reply = {
                "id": "msg_demo%d" % tokens(prompt), "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": tokens(prompt + system) + 6, "output_tokens": tokens(text),
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                          "service_tier": "standard"},
            }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
