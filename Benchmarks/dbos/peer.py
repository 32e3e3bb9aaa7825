"""The peer of PostgresBenchmark: DBOS Transact's per-step durable overhead on PostgreSQL, and the floor
beside it, a raw `INSERT … ; COMMIT` loop over psycopg 3 (the driver DBOS itself uses) on the same server.

    python peer.py run URL [STEPS] [ROUNDS]   # ROUNDS interleaved rounds of both; prints the medians
    python peer.py serve URL [STEPS]           # one round per line read on stdin ("dbos" or "raw"),
                                               # answers the round's wall seconds on stdout (the Swift
                                               # benchmark drives it to interleave its own rounds)

URL is a postgres:// URL of a database the user may create databases from (DBOS makes its system database,
`<db>_dbos_sys`, beside it). Each DBOS round is one workflow of STEPS no-op steps (`@DBOS.step()` returning
its argument), started and awaited in this process; a round's time is the workflow's wall time, launch not
included. Each raw round is STEPS single-row inserts, each its own committed transaction (BEGIN, INSERT,
COMMIT: the shape of one durable step record), on a connection opened beforehand.
"""
import logging
import statistics
import sys
import time
import uuid

import psycopg
from dbos import DBOS, DBOSConfig


def dbos_round(steps: int) -> float:
    start = time.perf_counter()
    handle = DBOS.start_workflow(chain, steps)
    assert handle.get_result() == steps - 1
    return time.perf_counter() - start


@DBOS.step()
def noop(i: int) -> int:
    return i


@DBOS.workflow()
def chain(steps: int) -> int:
    last = -1
    for i in range(steps):
        last = noop(i)
    return last


class RawLoop:
    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url)
        with self.conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS bench_raw (id BIGSERIAL PRIMARY KEY, run TEXT NOT NULL, step TEXT NOT NULL, output TEXT NOT NULL)")
        self.conn.commit()

    def round(self, steps: int) -> float:
        run = str(uuid.uuid4())
        cur = self.conn.cursor()
        start = time.perf_counter()
        for i in range(steps):
            # psycopg opens the transaction itself (not autocommit): BEGIN; INSERT; COMMIT.
            cur.execute("INSERT INTO bench_raw (run, step, output) VALUES (%s, %s, %s)", (run, f"s{i}", f'{{"n":{i}}}'))
            self.conn.commit()
        return time.perf_counter() - start


def launch(url: str) -> None:
    logging.getLogger("dbos").setLevel(logging.WARNING)
    base = url.rsplit("/", 1)
    config: DBOSConfig = {
        "name": "wflo-peer-bench",
        "system_database_url": f"{base[0]}/{base[1]}_dbos_sys".replace("postgres://", "postgresql://", 1),
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    launch(url)
    raw = RawLoop(url)
    # One warm-up round of each: connection pools, prepared plans, first-use migrations.
    dbos_round(min(steps, 50))
    raw.round(min(steps, 50))
    if mode == "serve":
        print("ready", flush=True)
        for line in sys.stdin:
            which = line.strip()
            if which == "dbos":
                print(f"{dbos_round(steps):.6f}", flush=True)
            elif which == "raw":
                print(f"{raw.round(steps):.6f}", flush=True)
            elif which == "quit":
                break
            else:
                print(f"error: unknown round {which!r} (dbos, raw or quit)", flush=True)
    elif mode == "run":
        rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 7
        times: dict[str, list[float]] = {"dbos": [], "raw": []}
        for _ in range(rounds):
            times["raw"].append(raw.round(steps))
            times["dbos"].append(dbos_round(steps))
        dbos_ms = statistics.median(times["dbos"]) / steps * 1000
        raw_ms = statistics.median(times["raw"]) / steps * 1000
        print(f"steps per round: {steps}, rounds: {rounds} (interleaved), server: {url}")
        print(f"raw psycopg INSERT+COMMIT loop : median {raw_ms:.4f} ms/commit")
        print(f"DBOS {DBOS_VERSION} no-op step chain  : median {dbos_ms:.4f} ms/step; ratio DBOS/raw {dbos_ms / raw_ms:.2f}x")
        print("all rounds (s): raw " + " ".join(f"{t:.3f}" for t in times["raw"]) + " | dbos " + " ".join(f"{t:.3f}" for t in times["dbos"]))
    else:
        sys.exit(f"peer.py: unknown mode {mode!r}: use run or serve")
    DBOS.destroy()


from importlib.metadata import version  # noqa: E402

DBOS_VERSION = version("dbos")

if __name__ == "__main__":
    main()
