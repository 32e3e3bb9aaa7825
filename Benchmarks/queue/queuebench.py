"""Worker throughput and failover of `wflo submit` / `wflo worker`, against the fake provider (fakellm.py).

    python queuebench.py throughput --wflo BIN --db sqlite|postgres [--runs 500] [--workers 1,2,4] [--concurrency 8] [--rounds 3]
    python queuebench.py failover   --wflo BIN --db sqlite|postgres [--runs 40] [--trials 100] [--lease 2]
    python queuebench.py spread     --wflo BIN --db sqlite|postgres [--items 200] [--workers 1,2,4] [--concurrency 50] [--rounds 3]

Every round or trial uses a fresh journal: a new SQLite file, or a new database on the PostgreSQL server of
WFLO_TEST_POSTGRES_ADMIN_URL (scripts/postgres.sh). Runs are submitted first (`wflo submit`, not timed), then
the workers start; the clock runs from just before the first worker is spawned to the last run's final
write (runs.updated_at, the journal's clock, seconds since 1970, same machine).

The workflow: three chained `llm` steps, each prompt naming its run's item and step, so the fake server can
tell a call sent twice. Latency-bound ideal: ceil(RUNS / (WORKERS x CONCURRENCY)) waves of 3 x DELAY each:
what a perfect scheduler with no per-step cost would take with that many runs in flight.

Failover: three workers; once a third of the calls have been answered, one worker that holds runs is killed
with SIGKILL; the trial waits for every run to finish. Per trial: lost runs (not completed), calls sent twice
(repeated prompts at the server), completed steps re-sent (a call sent again after the journal had recorded
that step's attempt as succeeded), overspend (a run whose spend passes its budget; and the ledger's total
against what the server answered, at the bench model's price), and the time from the kill to the first call
of a killed worker's run sent by another worker, beside the lease.

Spread (issue 16): ONE run of a for_each of ITEMS `llm` calls (max_parallel ITEMS), with 1, 2 and 4 workers started
with --spread-steps --concurrency C (each executes at most C step tasks at once, its own run's or another's), beside
the baseline in the same rounds: one worker without --spread-steps, whose driver runs every item in-process at
max_parallel. Per size: the median wall time (first worker spawned to the run's final write) and the share of the
items each worker ran (step_tasks.owner of each done task).
"""
import argparse
import concurrent.futures
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
PRICE_IN, PRICE_OUT = Decimal("0.000001"), Decimal("0.000002")
CALL_COST = 12 * PRICE_IN + 1 * PRICE_OUT  # the fake server's usage: 12 prompt + 1 completion tokens
WORKFLOW = """name: queued-three
inputs:
  item: {type: string}
steps:
  - id: a
    type: llm
    model: bench-gpt
    max_tokens: 16
    prompt: "item {{inputs.item}} step a"
  - id: b
    type: llm
    model: bench-gpt
    max_tokens: 16
    prompt: "item {{inputs.item}} step b after {{steps.a.output.text}}"
  - id: c
    type: llm
    model: bench-gpt
    max_tokens: 16
    prompt: "item {{inputs.item}} step c after {{steps.b.output.text}}"
outputs:
  last: "{{steps.c.output.text}}"
"""
PRICING = {"bench-gpt": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": str(PRICE_IN),
                         "output_cost_per_token": str(PRICE_OUT), "max_output_tokens": 1000}}
FINAL = ("completed", "failed", "budget_exceeded", "rejected", "cancelled")


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Fake:
    def __init__(self, delay_ms: int) -> None:
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "fakellm.py"), str(self.port), str(delay_ms)])
        for _ in range(100):
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("fakellm.py did not start")

    def call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self.call("GET", "/stats")

    def reset(self) -> None:
        self.call("POST", "/reset")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


class Journal:
    """A fresh journal per round: its --db value, and SQL reads of its runs and attempts."""

    def __init__(self, kind: str, folder: str) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = os.path.join(folder, f"journal-{uuid.uuid4().hex[:8]}.db")
            self.db = self.path
        else:
            import psycopg
            admin = os.environ.get("WFLO_TEST_POSTGRES_ADMIN_URL")
            if not admin:
                raise SystemExit("--db postgres needs WFLO_TEST_POSTGRES_ADMIN_URL (eval \"$(bash scripts/postgres.sh start DIR)\")")
            name = f"qbench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f"CREATE DATABASE {name}")
            self.db = admin.rsplit("/", 1)[0] + "/" + name
        self.connection = None

    def query(self, sql: str) -> list:
        if self.kind == "sqlite":
            if not os.path.exists(self.path):
                return []
            c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                return c.execute(sql).fetchall()
            except sqlite3.OperationalError:
                return []
            finally:
                c.close()
        import psycopg
        # One connection for all of a round's reads: a new one for each poll (20 a second) made the
        # server start a process each time, CPU taken from the workers under test on a small machine.
        if self.connection is None or self.connection.closed:
            self.connection = psycopg.connect(self.db, autocommit=True)
        try:
            return self.connection.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    def close(self) -> None:
        if getattr(self, "connection", None) is not None:
            self.connection.close()


def environment(fake: Fake, pricing_path: str) -> dict:
    env = dict(os.environ)
    env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{fake.port}/v1", OPENAI_API_KEY="sk-bench", WFLO_PRICING=pricing_path)
    return env


def submit_all(args, journal: Journal, env: dict, workflow_path: str, runs: int) -> dict:
    """Submits RUNS runs (item 0..RUNS-1), a few at a time; returns item -> run id."""
    def one(item: int) -> tuple:
        out = subprocess.run([args.wflo, "submit", workflow_path, "--budget", args.budget, "--input", f"item={item}", "--json", "--db", journal.db],
                             env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"wflo submit failed ({out.returncode}): {out.stderr.strip()}")
        answer = json.loads(out.stdout)
        assert answer["status"] == "queued", answer
        return item, answer["run_id"]
    # The first alone: it creates the journal (migrations) before the others race to it.
    items = dict([one(0)])
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        items.update(pool.map(one, range(1, runs)))
    return items


class Worker:
    """A `wflo worker --json-logs` process; a thread stamps each line of its log with the time it was read."""

    def __init__(self, args, journal: Journal, env: dict, concurrency: int, lease: str, extra: tuple = ()) -> None:
        import threading
        self.process = subprocess.Popen([args.wflo, "worker", "--concurrency", str(concurrency), "--lease", lease, "--json-logs",
                                         "--db", journal.db, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pid = self.process.pid
        self.lines: list = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def events(self, kind: str) -> list:
        found = []
        for at, line in list(self.lines):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == kind:
                found.append((at, event))
        return found


def start_workers(args, journal: Journal, env: dict, count: int, concurrency: int, lease: str) -> list:
    return [Worker(args, journal, env, concurrency, lease) for _ in range(count)]


def stop_workers(workers: list) -> None:
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.reader.join(timeout=5)


def worker_output(workers: list) -> str:
    return "\n".join(f"--- worker {w.pid} (exit {w.process.returncode}):\n" + "\n".join(line for _, line in w.lines[-30:]) for w in workers)


def wait_final(journal: Journal, runs: int, timeout: float) -> list:
    deadline = time.time() + timeout
    final = ", ".join(f"'{status}'" for status in FINAL)
    while time.time() < deadline:
        # A count each poll; the rows once, at the end.
        counted = journal.query(f"SELECT count(*), count(*) FILTER (WHERE status IN ({final})) FROM runs"
                                if journal.kind == "postgres" else f"SELECT count(*), sum(status IN ({final})) FROM runs")
        if counted and counted[0][0] == runs and counted[0][1] == runs:
            break
        time.sleep(0.05)
    return journal.query("SELECT id, status, updated_at, settled_usd, budget_usd FROM runs")


def bench_folder(prefix: str, workflow_name: str, workflow: str) -> tuple:
    """A fresh folder holding the bench pricing table and `workflow`: (folder, pricing path, workflow path)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    pricing_path = os.path.join(folder, "pricing.json")
    workflow_path = os.path.join(folder, workflow_name)
    with open(pricing_path, "w") as f:
        json.dump(PRICING, f)
    with open(workflow_path, "w") as f:
        f.write(workflow)
    return folder, pricing_path, workflow_path


def throughput(args) -> None:
    folder, pricing_path, workflow_path = bench_folder("wflo-queue-bench-", "three.yaml", WORKFLOW)
    fake = Fake(args.delay)
    env = environment(fake, pricing_path)
    sizes = [int(x) for x in args.workers.split(",")]
    results: dict = {n: [] for n in sizes}
    print(f"{args.runs} runs x 3 llm steps, answers after {args.delay} ms, --concurrency {args.concurrency} per worker, "
          f"{args.rounds} interleaved rounds, journal {args.db}; load average {load()} at start, {os.cpu_count()} cores", flush=True)
    try:
        for round_ in range(args.rounds):
            for n in sizes:
                journal = Journal(args.db, folder)
                submitted = time.time()
                items = submit_all(args, journal, env, workflow_path, args.runs)
                submit_seconds = time.time() - submitted
                fake.reset()
                start = time.time()
                workers = start_workers(args, journal, env, n, args.concurrency, args.lease)
                rows = wait_final(journal, args.runs, args.timeout)
                stop_workers(workers)
                stats = fake.stats()
                completed = sum(1 for r in rows if r[1] == "completed")
                if completed != args.runs:
                    print(worker_output(workers))
                    raise SystemExit(f"round {round_}, {n} workers: {completed} of {args.runs} runs completed: "
                                     f"{sorted(set(r[1] for r in rows))}")
                elapsed = max(float(r[2]) for r in rows) - start
                journal.close()
                results[n].append(elapsed)
                print(f"  round {round_} workers {n}: {elapsed:.3f} s (submit of {len(items)} took {submit_seconds:.1f} s); calls {stats['requests']}, "
                      f"sent twice {len(stats['repeated'])}, most in flight {stats['max_in_flight']}; load {load()}", flush=True)
    finally:
        fake.stop()
    print(f"load average at end: {load()}")
    print("workers  median s  ideal s  median/ideal  runs/s   (ideal: ceil(runs/(workers x concurrency)) waves x 3 x delay)")
    for n in sizes:
        ideal = math.ceil(args.runs / (n * args.concurrency)) * 3 * args.delay / 1000
        m = statistics.median(results[n])
        print(f"{n:7d}  {m:8.3f}  {ideal:7.3f}  {m / ideal:12.2f}  {args.runs / m:6.1f}   all: " + " ".join(f"{x:.3f}" for x in results[n]))


def owned_by(journal: Journal, pid: int) -> list:
    """The runs whose owner column names process `pid` (and whose lease has not been given back)."""
    found = []
    for run_id, owner in journal.query("SELECT id, owner FROM runs WHERE owner IS NOT NULL"):
        try:
            if int(json.loads(owner).get("pid", -1)) == pid:
                found.append(run_id)
        except (ValueError, AttributeError, TypeError):
            if f"{pid}" in str(owner):
                found.append(run_id)
    return found


def failover(args) -> None:
    folder, pricing_path, workflow_path = bench_folder("wflo-failover-bench-", "three.yaml", WORKFLOW)
    fake = Fake(args.delay)
    env = environment(fake, pricing_path)
    lease_seconds = float(args.lease.rstrip("s"))
    totals = dict(trials=0, lost=0, sent_twice=0, completed_resent=0, overspent_runs=0, ledger_short=0, no_victim=0)
    resume_after: list = []
    call_after: list = []
    print(f"failover: {args.trials} trials of {args.runs} runs x 3 llm steps, 3 workers x --concurrency {args.concurrency}, "
          f"--lease {args.lease}, answers after {args.delay} ms, journal {args.db}; load average {load()} at start", flush=True)
    try:
        for trial in range(args.trials):
            journal = Journal(args.db, folder)
            items = submit_all(args, journal, env, workflow_path, args.runs)
            run_of_item = {str(item): run for item, run in items.items()}
            fake.reset()
            workers = start_workers(args, journal, env, 3, args.concurrency, args.lease)
            # Kill once a third of the calls were answered, a worker that holds runs at that moment.
            target = args.runs  # of RUNS x 3 calls
            while fake.stats()["answered"] < target:
                time.sleep(0.005)
            victim, held = None, []
            for worker in workers:
                held = owned_by(journal, worker.pid)
                if held:
                    victim = worker
                    break
            if victim is None:
                totals["no_victim"] += 1
                stop_workers(workers)
                continue
            victim.process.send_signal(signal.SIGKILL)
            killed_at = time.time()
            rows = wait_final(journal, args.runs, args.timeout)
            stop_workers(workers)
            stats = fake.stats()
            totals["trials"] += 1
            lost = args.runs - sum(1 for r in rows if r[1] == "completed")
            totals["lost"] += lost
            totals["sent_twice"] += len(stats["repeated"])
            # A completed step re-sent: a repeated call arriving after the journal recorded that step's attempt as succeeded.
            succeeded = {}
            for run_id, step_id, finished in journal.query("SELECT run_id, step_id, finished_at FROM attempts WHERE status = 'succeeded' AND finished_at IS NOT NULL"):
                key = (run_id, step_id)
                succeeded[key] = min(float(finished), succeeded.get(key, math.inf))
            resent = 0
            for entry in stats["repeated"]:
                words = entry["prompt"].split()
                key = (run_of_item.get(words[1]), words[3])
                first_success = succeeded.get(key, math.inf)
                resent += sum(1 for a in entry["arrivals"][1:] if a["arrived"] > first_success)
            totals["completed_resent"] += resent
            # Overspend: a run's spend (the ledger: settled, plus reservations of calls left unsettled) past its budget;
            # and the ledger's total against what the server answered (each answered call must be charged).
            listed = json.loads(subprocess.run([args.wflo, "runs", "--json", "--limit", str(args.runs + 10), "--db", journal.db],
                                               env=env, capture_output=True, text=True, check=True).stdout)
            over = sum(1 for r in listed if r["budget_usd"] is not None and Decimal(r["spent_usd"]) > Decimal(r["budget_usd"]))
            totals["overspent_runs"] += over
            ledger = sum((Decimal(r["spent_usd"]) for r in listed), Decimal(0))
            answered_cost = stats["answered"] * CALL_COST
            if ledger < answered_cost:
                totals["ledger_short"] += 1
            # Resumption: the first claim by another worker of a run the victim held (its log line read), and
            # the first call for such a run sent after that claim.
            claims = [(at, e["run_id"]) for w in workers if w is not victim for at, e in w.events("claimed") if e["run_id"] in held and at > killed_at]
            first = min((at for at, _ in claims), default=math.inf)
            if first < math.inf:
                resume_after.append(first - killed_at)
                held_items = {item for item, run in run_of_item.items() if run in held}
                calls_after = [a["arrived"] for prompt, arrivals in fake_log(fake).items() if prompt.split()[1] in held_items
                               for a in arrivals if a["arrived"] > first]
                if calls_after:
                    call_after.append(min(calls_after) - killed_at)
            attempts = dict(journal.query("SELECT status, count(*) FROM attempts GROUP BY status"))
            for status, count in attempts.items():
                totals[f"attempts_{status}"] = totals.get(f"attempts_{status}", 0) + count
            print(f"  trial {trial}: victim held {len(held)} runs; attempts {attempts}; lost {lost}, sent twice {len(stats['repeated'])}, completed re-sent {resent}, "
                  f"overspent runs {over}, ledger {ledger} vs answered {answered_cost}; claimed elsewhere after "
                  f"{(first - killed_at) if first < math.inf else float('nan'):.3f} s; load {load()}", flush=True)
            if lost:
                print(worker_output(workers))
    finally:
        fake.stop()
    print(f"load average at end: {load()}")
    print(f"trials {totals['trials']} (and {totals['no_victim']} where no worker held a run at the kill point, not counted)")
    print(f"lost runs {totals['lost']}; calls sent twice {totals['sent_twice']}; completed steps re-sent {totals['completed_resent']}; "
          f"runs over budget {totals['overspent_runs']}; trials whose ledger is below what the server answered {totals['ledger_short']}")
    print("attempts over all trials: " + ", ".join(f"{k[9:]} {v}" for k, v in sorted(totals.items()) if k.startswith("attempts_")))
    if resume_after:
        s = sorted(resume_after)
        print(f"kill -> a killed worker's run claimed by another worker: min {s[0]:.3f} s, median {statistics.median(s):.3f} s, max {s[-1]:.3f} s "
              f"(lease {lease_seconds} s; {len(s)} trials)")
    if call_after:
        s = sorted(call_after)
        print(f"kill -> its first call from the new worker: min {s[0]:.3f} s, median {statistics.median(s):.3f} s, max {s[-1]:.3f} s")


SPREAD_WORKFLOW = """name: spread
inputs:
  items: {type: array}
steps:
  - id: calls
    type: llm
    for_each: {items: "{{inputs.items}}", item_var: item, max_parallel: %d}
    model: bench-gpt
    max_tokens: 16
    prompt: "item {{for_each.item}}"
"""


def spread(args) -> None:
    folder, pricing_path, workflow_path = bench_folder("wflo-spread-bench-", "spread.yaml", SPREAD_WORKFLOW % args.items)
    fake = Fake(args.delay)
    env = environment(fake, pricing_path)
    # (label, workers, --spread-steps): the baseline first, in every round.
    sizes = [("baseline: 1 worker, no --spread-steps", 1, False)] + [(f"{n} worker(s), --spread-steps", n, True)
                                                                     for n in (int(x) for x in args.workers.split(","))]
    results: dict = {label: [] for label, _, _ in sizes}
    shares: dict = {label: [] for label, _, _ in sizes}
    items = json.dumps([f"i{i}" for i in range(args.items)])
    print(f"one run, for_each of {args.items} llm calls (max_parallel {args.items}), answers after {args.delay} ms, "
          f"--concurrency {args.concurrency} per worker, {args.rounds} interleaved rounds, journal {args.db}; "
          f"load average {load()} at start, {os.cpu_count()} cores (a shared machine)", flush=True)
    try:
        for round_ in range(args.rounds):
            for label, n, spreading in sizes:
                journal = Journal(args.db, folder)
                out = subprocess.run([args.wflo, "submit", workflow_path, "--budget", "1", "--input", f"items={items}", "--json",
                                      "--db", journal.db], env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"wflo submit failed ({out.returncode}): {out.stderr.strip()}")
                run_id = json.loads(out.stdout)["run_id"]
                fake.reset()
                start = time.time()
                concurrency = args.concurrency if spreading else 1
                workers = [Worker(args, journal, env, concurrency, args.lease, ("--spread-steps",) if spreading else ())
                           for _ in range(n)]
                rows = wait_final(journal, 1, args.timeout)
                stop_workers(workers)
                stats = fake.stats()
                if not rows or rows[0][1] != "completed":
                    print(worker_output(workers))
                    raise SystemExit(f"round {round_}, {label}: the run ended {rows[0][1] if rows else 'nowhere'}")
                elapsed = float(rows[0][2]) - start
                results[label].append(elapsed)
                ran: dict = {}
                for (owner,) in journal.query(f"SELECT owner FROM step_tasks WHERE run_id = '{run_id}' AND status = 'done'"):
                    pid = json.loads(owner)["pid"] if owner else 0
                    ran[pid] = ran.get(pid, 0) + 1
                share = sorted((ran.get(w.pid, 0) for w in workers), reverse=True) if spreading else [args.items]
                shares[label].append(share)
                print(f"  round {round_} {label}: {elapsed:.3f} s; items per worker {share}; calls {stats['requests']}, "
                      f"sent twice {len(stats['repeated'])}, most in flight {stats['max_in_flight']}; load {load()}", flush=True)
    finally:
        fake.stop()
    print(f"load average at end: {load()}")
    print("configuration                            median s  all rounds                 items per worker (each round)")
    for label, _, _ in sizes:
        m = statistics.median(results[label])
        print(f"{label:40s} {m:8.3f}  " + " ".join(f"{x:.3f}" for x in results[label]) + "   " + " ".join(str(x) for x in shares[label]))


def fake_log(fake: Fake) -> dict:
    return fake.call("GET", "/log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["throughput", "failover", "spread"])
    parser.add_argument("--wflo", required=True, help="the wflo binary (a release build)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--lease", default="2s")
    parser.add_argument("--delay", type=int, default=50)
    parser.add_argument("--budget", default="0.01")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    if args.runs is None:
        args.runs = 500 if args.mode == "throughput" else 40
    if args.mode == "spread":
        if args.concurrency == 8 and "--concurrency" not in sys.argv:
            args.concurrency = 50
        spread(args)
    else:
        throughput(args) if args.mode == "throughput" else failover(args)


if __name__ == "__main__":
    main()
