"""Load on `wflo server` (issue 18): requests/s of the API's and the dashboard's run reads beside the
server's own `/healthz` route, and the run page of a 100,000-step run.

    python3 serverbench.py --wflo BIN [--rounds 5] [--seconds 5] [--connections 8] [--steps 50] [--big-steps 100000] [--many 200]

One release `wflo server --workers 0` on loopback over a fresh SQLite journal. `wrk` (Debian) drives, for
--seconds each, in every round and in a rotating order so machine noise hits all of them alike:
  - GET /healthz: the baseline, a hello-world route of the same Hummingbird server (no token, no journal);
  - GET /v1/runs/{id}: a completed --steps-step run as JSON (token checked, run, ledger, status);
  - GET /runs/{id}: the dashboard's run page of the same run (session cookie, report, HTML);
  - both again over --many different completed --steps-step runs, each request picking one at random
    (a wrk Lua script), so that nothing one run's answers leave behind (a cache) makes them cheaper.
Prints each route's median requests/s over the rounds, its ratio to /healthz's, and the goal (>= 50%).

Then the run page of a --big-steps-step chain (made with a release `wflo run`, timed): its first and last
page, the API's JSON of it and its full report (which reads and reports every step, for scale), each
fetched --samples times on one connection, interleaved, median and max wall time (goal: the page < 1 s).
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse


def chain_yaml(n):
    """ScaleBenchmark's chain: each transform step reads the one before it."""
    lines = ["name: chain", "budget: 0", "steps:", "  - id: s0", "    type: transform", "    output: {n: 0}"]
    for i in range(1, n):
        lines += [f"  - id: s{i}", "    type: transform", f"    output: {{n: {i}, prev: \"{{{{steps.s{i - 1}.output.n}}}}\"}}"]
    lines += ["outputs:", f"  last: \"{{{{steps.s{n - 1}.output.n}}}}\""]
    return "\n".join(lines) + "\n"


def wflo_json(wflo, args, env):
    out = subprocess.run([wflo] + args + ["--json"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"wflo {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def make_run(wflo, folder, steps, env, db, name=None):
    path = os.path.join(folder, f"{name or f'chain-{steps}'}.yaml")
    with open(path, "w") as f:
        f.write(chain_yaml(steps))
    start = time.perf_counter()
    run = wflo_json(wflo, ["run", path, "--db", db], env)
    return run["run_id"], time.perf_counter() - start


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, headers=None, body=None):
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.getheaders(), response.read()


def log_in(port, token):
    """The dashboard's login as a browser does it: GET /login (keeping any cookie and hidden field it
    sets, such as a CSRF token), POST the form with the token; returns the Cookie header to send."""
    client = Client(port)
    cookies = {}

    def keep(headers):
        for key, value in headers:
            if key.lower() == "set-cookie":
                name, _, rest = value.split(";")[0].partition("=")
                cookies[name.strip()] = rest

    status, headers, body = client.request("GET", "/login")
    keep(headers)
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body.decode()))
    fields["token"] = token
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    status, headers, _ = client.request("POST", "/login", headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
                                        body=urllib.parse.urlencode(fields))
    keep(headers)
    if status not in (302, 303):
        sys.exit(f"dashboard login answered {status}")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def rotation_script(folder, name, prefix, ids):
    """A wrk Lua script whose every request GETs prefix + one of `ids` picked at random."""
    path = os.path.join(folder, f"{name}.lua")
    with open(path, "w") as f:
        f.write("local ids = {" + ", ".join(f'"{i}"' for i in ids) + "}\n")
        f.write("request = function()\n")
        f.write(f'  return wrk.format("GET", "{prefix}" .. ids[math.random(#ids)])\n')
        f.write("end\n")
    return path


def wrk(url, header, seconds, connections, script=None):
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s"]
    if header:
        args += ["-H", header]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        sys.exit(f"{url}: {bad.group(1)} answers were not 2xx/3xx:\n{out}")
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        sys.exit(f"{url}: {errors.group(0)}")
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), latency


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wflo", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--big-steps", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--many", type=int, default=200, help="runs the rotating rounds pick among (0: none)")
    options = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="wflo-server-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and not k.startswith("WFLO_")}
    env["HOME"] = folder
    db = os.path.join(folder, "wflo.db")
    small, _ = make_run(options.wflo, folder, options.steps, env, db)
    many = [small]
    if options.many > 1:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:  # four `wflo run` processes at a time on one journal
            many += [run for run, _ in pool.map(lambda i: make_run(options.wflo, folder, options.steps, env, db, name=f"chain-{i}"),
                                                 range(options.many - 1))]
        print(f"made {options.many - 1} more {options.steps}-step runs in {time.perf_counter() - start:.1f} s")
    big, big_seconds = (None, 0.0)
    if options.big_steps > 0:
        big, big_seconds = make_run(options.wflo, folder, options.big_steps, env, db)
        print(f"made a {options.big_steps}-step run with `wflo run` (release) in {big_seconds:.1f} s")
    token = wflo_json(options.wflo, ["tokens", "create", "bench", "--role", "read", "--db", db], env)["token"]

    server = subprocess.Popen([options.wflo, "server", "--db", db, "--listen", "127.0.0.1:0", "--workers", "0"], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not match:
            sys.exit(f"the server did not say where it listens: {line!r}")
        port = int(match.group(1))
        base = f"http://127.0.0.1:{port}"
        cookie = log_in(port, token)
        auth = f"Authorization: Bearer {token}"
        routes = [
            ("GET /healthz (baseline)", f"{base}/healthz", None),
            (f"GET /v1/runs/{{id}} ({options.steps}-step run)", f"{base}/v1/runs/{small}", auth),
            (f"GET /runs/{{id}} dashboard page ({options.steps}-step run)", f"{base}/runs/{small}", f"Cookie: {cookie}"),
        ]
        scripts = {}
        if options.many > 1:
            routes += [
                (f"GET /v1/runs/{{id}}, one of {options.many} runs at random", f"{base}/v1/runs/{small}", auth),
                (f"GET /runs/{{id}} page, one of {options.many} runs at random", f"{base}/runs/{small}", f"Cookie: {cookie}"),
            ]
            scripts[routes[-2][0]] = rotation_script(folder, "api", "/v1/runs/", many)
            scripts[routes[-1][0]] = rotation_script(folder, "page", "/runs/", many)
        client = Client(port)
        for _, url, header in routes:  # each answers 200 before it is measured
            name, _, value = header.partition(": ") if header else ("", "", "")
            status, _, body = client.request("GET", urllib.parse.urlparse(url).path, headers={name: value} if header else {})
            if status != 200:
                sys.exit(f"{url} answered {status}: {body[:300]!r}")

        results = {name: [] for name, _, _ in routes}
        latencies = {name: [] for name, _, _ in routes}
        for round_number in range(options.rounds):
            shift = round_number % len(routes)
            for name, url, header in routes[shift:] + routes[:shift]:
                rate, latency = wrk(url, header, options.seconds, options.connections, scripts.get(name))
                results[name].append(rate)
                latencies[name].append(latency)
        baseline = statistics.median(results[routes[0][0]])
        print(f"\nwrk -t2 -c{options.connections} -d{options.seconds}s, {options.rounds} rounds, order rotated each round; "
              f"requests/s median (min-max) · ratio to /healthz's median · goal >= 0.50")
        for name, _, _ in routes:
            values = results[name]
            print(f"  {name:56} {statistics.median(values):9.0f} ({min(values):.0f}-{max(values):.0f})  "
                  f"{statistics.median(values) / baseline:.2f}x  latency avg by round: {' '.join(latencies[name])}")

        if big:
            pages = (options.big_steps + 199) // 200
            targets = [
                (f"run page 1 of a {options.big_steps}-step run", f"/runs/{big}", {"Cookie": cookie}, f"of {options.big_steps}"),
                (f"run page {pages} (the last)", f"/runs/{big}?page={pages}", {"Cookie": cookie}, f"page {pages} of {pages}"),
                (f"GET /v1/runs/{{id}} of it", f"/v1/runs/{big}", {"Authorization": f"Bearer {token}"}, '"status"'),
                ("GET /v1/runs/{id}/report of it (reads every step)", f"/v1/runs/{big}/report", {"Authorization": f"Bearer {token}"}, '"steps"'),
            ]
            print(f"\n{options.samples} fetches each, one connection, interleaved; wall time median / max (goal: page < 1 s)")
            times = {name: [] for name, _, _, _ in targets}
            sizes = {}
            for _ in range(options.samples):
                for name, path, headers, expected in targets:
                    start = time.perf_counter()
                    status, _, body = client.request("GET", path, headers=headers)
                    times[name].append(time.perf_counter() - start)
                    if status != 200 or expected.encode() not in body:
                        sys.exit(f"{path} answered {status} without {expected!r}: {body[:300]!r}")
                    sizes[name] = len(body)
            for name, _, _, _ in targets:
                print(f"  {name:56} {statistics.median(times[name]) * 1000:8.1f} ms / {max(times[name]) * 1000:8.1f} ms  "
                      f"({sizes[name] / 1024:.0f} KiB)")
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
