"""The baseline of ParallelBenchmark: a plain aiohttp client sending CALLS chat completions,
PARALLEL at a time, to the stand-in server. Prints the wall seconds.

    python client.py URL CALLS PARALLEL
"""
import asyncio
import json
import sys
import time

import aiohttp


async def main(url: str, calls: int, parallel: int) -> None:
    gate = asyncio.Semaphore(parallel)
    connector = aiohttp.TCPConnector(limit=parallel)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(index: int) -> None:
            body = {"model": "bench-gpt", "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"Say ok to item {index}"}]}
            async with gate:
                async with session.post(url, json=body, headers={"authorization": "Bearer sk-bench"}) as response:
                    answer = json.loads(await response.read())
                    assert answer["choices"][0]["message"]["content"] == "ok"

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        print(f"{time.perf_counter() - start:.6f}")


asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
