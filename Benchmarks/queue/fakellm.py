"""The fake provider of the queue benchmarks: an OpenAI chat-completions endpoint that answers every
POST after a fixed delay (default 50 ms) and keeps a log of what it was asked, for counting calls sent twice.

    python fakellm.py PORT [DELAY_MS]

POST /v1/chat/completions  answers "ok" with usage 12 prompt + 1 completion tokens, after DELAY_MS
GET  /stats                {"requests", "answered", "max_in_flight", "distinct_prompts", "repeated": [
                              {"prompt", "arrivals": [{"arrived", "answered"}…]}…]}   (times: epoch seconds;
                              "answered" null when the answer was never written, e.g. the caller was killed)
GET  /log                  {prompt: [{"arrived", "answered"}…]} for every prompt
POST /reset                forgets everything
"""
import asyncio
import json
import sys
import time

from aiohttp import web

DELAY = (float(sys.argv[2]) if len(sys.argv) > 2 else 50.0) / 1000
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-gpt",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
})
state: dict = {}


def reset() -> None:
    state.update(in_flight=0, max_in_flight=0, requests=0, answered=0, log={})


async def complete(request: web.Request) -> web.StreamResponse:
    try:
        body = json.loads(await request.read())
    except ConnectionError:
        return web.Response(status=499)  # the caller is gone before it finished asking
    prompt = "\n".join(str(m.get("content")) for m in body.get("messages", []))
    arrival = {"arrived": time.time(), "answered": None}
    state["log"].setdefault(prompt, []).append(arrival)
    state["requests"] += 1
    state["in_flight"] += 1
    state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
    try:
        await asyncio.sleep(DELAY)
        response = web.Response(text=ANSWER, content_type="application/json")
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            return response  # the caller is gone (killed): never answered
        arrival["answered"] = time.time()
        state["answered"] += 1
        return response
    finally:
        state["in_flight"] -= 1


async def stats(_: web.Request) -> web.Response:
    repeated = [{"prompt": p, "arrivals": a} for p, a in state["log"].items() if len(a) > 1]
    return web.json_response({"requests": state["requests"], "answered": state["answered"], "max_in_flight": state["max_in_flight"],
                              "distinct_prompts": len(state["log"]), "repeated": repeated})


async def full_log(_: web.Request) -> web.Response:
    return web.json_response(state["log"])


async def do_reset(_: web.Request) -> web.Response:
    reset()
    return web.json_response({"ok": True})


reset()
app = web.Application()
app.router.add_post("/v1/chat/completions", complete)
app.router.add_get("/stats", stats)
app.router.add_get("/log", full_log)
app.router.add_post("/reset", do_reset)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
