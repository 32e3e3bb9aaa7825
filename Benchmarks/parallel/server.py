"""A stand-in chat-completions server for ParallelBenchmark: answers every POST after a fixed
delay (default 50 ms) in OpenAI's format, and counts the requests in flight at once.

    python server.py PORT [DELAY_MS]
GET /stats returns {"max_in_flight": N, "requests": N}; POST /reset zeroes them.
"""
import asyncio
import json
import sys

from aiohttp import web

DELAY = (float(sys.argv[2]) if len(sys.argv) > 2 else 50.0) / 1000
state = {"in_flight": 0, "max_in_flight": 0, "requests": 0}
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-gpt",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
})


async def complete(request: web.Request) -> web.Response:
    await request.read()
    state["requests"] += 1
    state["in_flight"] += 1
    state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
    try:
        await asyncio.sleep(DELAY)
    finally:
        state["in_flight"] -= 1
    return web.Response(text=ANSWER, content_type="application/json")


async def stats(_: web.Request) -> web.Response:
    return web.json_response({"max_in_flight": state["max_in_flight"], "requests": state["requests"]})


async def reset(_: web.Request) -> web.Response:
    state.update(in_flight=0, max_in_flight=0, requests=0)
    return web.json_response({})


app = web.Application()
app.add_routes([web.post("/v1/chat/completions", complete), web.get("/stats", stats), web.post("/reset", reset)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, backlog=1024)
