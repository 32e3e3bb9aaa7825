#!/usr/bin/env python3
"""Writes Tests/WfloPricingTests/Fixtures/litellm-parity.json: LiteLLM's own costs to compare with.

Usage: scripts/pricing/make_parity_fixture.py [LITELLM_WHEEL]

Installs litellm (the wheel given, else the version pricing/SOURCE.json names, from PyPI) into
the virtual environment /tmp/llvenv (created when missing; override with LLVENV), then re-runs
itself inside it. For every `mode: chat` model of pricing/model_prices_and_context_window.json and
a set of usage mixes (plain, cached, cache write, 1-hour cache write where the model prices it,
reasoning, and just above / exactly at each long-context threshold and tier boundary) it records
`litellm.cost_per_token(...)` (prompt + completion) as the text of the Python float.

LiteLLM reads the same JSON (LITELLM_LOCAL_MODEL_COST_MAP and an explicit check that its map
equals ours). Off-peak discounts depend on the clock: the billing time is pinned to a Monday
08:00 UTC, outside every off-peak window of the table, so the fixture prices standard rates.

Format (compact, keys abbreviated):
  {"litellm": VERSION, "sha256": SHA_OF_TABLE, "billing_time": ISO,
   "usage": ["input", "cached", "cache_write_5m", "cache_write_1h", "output", "reasoning"],
   "models": [{"m": NAME, "p": PROVIDER, "c": [[input, cached, cw5m, cw1h, output, reasoning, "COST"], ...]},
              {"m": NAME, "p": PROVIDER, "x": "why LiteLLM could not price it"}, ...]}
plus "billable": LiteLLM's `completion_cost` on responses that carry web searches, audio and image
tokens, or come from a model with a per-request fee (see billable_cases).
`input` counts all prompt tokens (cached and cache-written included), `output` all completion tokens
(reasoning included): LiteLLM's normalised usage, the same as wflo's TokenUsage.
"""
import hashlib
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TABLE = os.path.join(ROOT, "pricing", "model_prices_and_context_window.json")
OUT = os.path.join(ROOT, "Tests", "WfloPricingTests", "Fixtures", "litellm-parity.json")
VENV = os.environ.get("LLVENV", "/tmp/llvenv")


def ensure_venv():
    """Creates the venv and installs litellm in it unless it is already there."""
    python = os.path.join(VENV, "bin", "python3")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    probe = subprocess.run([python, "-c", "import litellm"], capture_output=True,
                           env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    if probe.returncode != 0:
        if len(sys.argv) > 1:
            spec = sys.argv[1]
        else:
            with open(os.path.join(ROOT, "pricing", "SOURCE.json")) as f:
                spec = "litellm==" + json.load(f)["version"]
        subprocess.check_call([python, "-m", "pip", "install", "-q", spec])
    return python


def usages(name, entry):
    """The usage mixes for one model: (input, cached, cw5m, cw1h, output, reasoning)."""
    mixes = [
        (1000, 0, 0, 0, 500, 0),          # plain
        (10000, 4000, 0, 0, 300, 0),       # cached
        (10000, 0, 3000, 0, 200, 0),       # cache write (5 minutes)
        (2000, 0, 0, 0, 3000, 2000),       # reasoning
        (12000, 3000, 2000, 0, 4000, 1500),  # everything at once
    ]
    if entry.get("cache_creation_input_token_cost_above_1hr") is not None:
        mixes.append((10000, 1000, 1000, 2000, 300, 0))
    thresholds = set()
    for key, value in entry.items():
        if value is None or "_above_" not in key or "_tokens" not in key:
            continue
        tail = key.rsplit("_above_", 1)[1]
        if not tail.endswith("_tokens"):
            continue  # service tiers, batches
        text = tail[: -len("_tokens")]
        try:
            thresholds.add(int(float(text.replace("k", "")) * (1000 if "k" in text else 1)))
        except ValueError:
            pass
    for tier in entry.get("tiered_pricing") or []:
        rng = tier.get("range") if isinstance(tier, dict) else None
        if isinstance(rng, list) and len(rng) == 2:
            thresholds.update(int(b) for b in rng if isinstance(b, (int, float)) and b > 0)
    for n in sorted(thresholds):
        mixes.append((n, 0, 0, 0, 100, 0))                      # exactly at the threshold
        mixes.append((n + 1000, 0, 0, 0, 1000, 0))              # just above it
        mixes.append((n + 5000, 2000, 1000, 0, 2000, 500))      # above, with cache and reasoning
        if entry.get("cache_creation_input_token_cost_above_1hr") is not None:
            mixes.append((n + 5000, 1000, 1000, 1500, 500, 0))
    return mixes


def run_inside():
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import datetime
    import litellm
    from litellm._internal_context import _billing_time
    from litellm.types.utils import Usage

    with open(TABLE, "rb") as f:
        raw = f.read()
    table = json.loads(raw)
    # LiteLLM pops the routing rules ("fallback_generalizations") out of the map it loads.
    ours = {k: v for k, v in table.items() if k != "fallback_generalizations"}
    if litellm.model_cost != ours:
        sys.exit("litellm's model map differs from %s; install the litellm version pricing/SOURCE.json names" % TABLE)
    billing = datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.timezone.utc)  # a Monday, no off-peak window
    _billing_time.set(billing)

    models = []
    compared = 0
    for name in sorted(table):
        entry = table[name]
        if name == "sample_spec" or not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        provider = entry.get("litellm_provider")
        record = {"m": name, "p": provider}
        if provider and not name.startswith(provider + "/") and (provider + "/" + name) in table:
            record["x"] = "LiteLLM prices %s/%s, another entry, for this name" % (provider, name)
            models.append(record)
            continue
        cases = []
        try:
            for (inp, cached, cw, cw1h, out, reasoning) in usages(name, entry):
                details = {"cached_tokens": cached, "cache_creation_tokens": cw + cw1h}
                if cw1h:
                    details["cache_creation_token_details"] = {"ephemeral_5m_input_tokens": cw,
                                                               "ephemeral_1h_input_tokens": cw1h}
                usage = Usage(prompt_tokens=inp, completion_tokens=out, total_tokens=inp + out,
                              prompt_tokens_details=details if (cached or cw or cw1h) else None,
                              completion_tokens_details={"reasoning_tokens": reasoning} if reasoning else None)
                prompt, completion = litellm.cost_per_token(model=name, custom_llm_provider=provider,
                                                            usage_object=usage)
                cases.append([inp, cached, cw, cw1h, out, reasoning, repr(float(prompt) + float(completion))])
            record["c"] = cases
            compared += len(cases)
        except Exception as error:  # LiteLLM refuses it: recorded, the Swift test lists these
            record.pop("c", None)
            record["x"] = ("%s: %s" % (type(error).__name__, error)).splitlines()[0][:160]
        models.append(record)

    billable = billable_cases(table, litellm)

    import importlib.metadata
    fixture = {"litellm": importlib.metadata.version("litellm"),
               "sha256": hashlib.sha256(raw).hexdigest(),
               "billing_time": billing.isoformat(),
               "usage": ["input", "cached", "cache_write_5m", "cache_write_1h", "output", "reasoning"],
               "models": models,
               "billable": billable}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print("%s: %d models, %d cases, %d not priced by LiteLLM, %d billable-usage cases" % (
        os.path.relpath(OUT, ROOT), len(models), compared, sum(1 for m in models if "x" in m), len(billable)))


def billable_cases(table, litellm):
    """`litellm.completion_cost` on responses whose usage carries what is billed beyond text tokens
    (issue 25): web searches (Anthropic `server_tool_use`, Perplexity's count), audio and image tokens,
    and per-request fees. One case per model and kind, for every chat model whose entry prices it:
      {"m": NAME, "p": PROVIDER, "k": KIND, "u": {"input", "output", "audio_in", "audio_out", "image_in", "searches"},
       "c": "COST"}
    (`input` and `output` count all prompt and completion tokens, audio and image ones included.)"""
    from litellm.types.utils import (CompletionTokensDetailsWrapper, ModelResponse, PromptTokensDetailsWrapper,
                                     ServerToolUse, Usage)
    cases = []
    for name in sorted(table):
        entry = table[name]
        if name == "sample_spec" or not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        provider = entry.get("litellm_provider")
        if provider and not name.startswith(provider + "/") and (provider + "/" + name) in table:
            continue
        kinds = []
        search = entry.get("search_context_cost_per_query")
        if search is not None and provider in ("anthropic", "perplexity"):
            kinds.append(("search", dict(input=2700, output=1000, searches=2)))
        if entry.get("input_cost_per_audio_token") is not None or entry.get("output_cost_per_audio_token") is not None:
            kinds.append(("audio", dict(input=1000, output=500, audio_in=400, audio_out=200)))
        if entry.get("input_cost_per_image_token") is not None:
            kinds.append(("image", dict(input=1000, output=100, image_in=300)))
        if entry.get("input_cost_per_request") is not None:
            kinds.append(("request", dict(input=10, output=100)))
        for kind, u in kinds:
            prompt_details = {}
            if u.get("audio_in"):
                prompt_details["audio_tokens"] = u["audio_in"]
            if u.get("image_in"):
                prompt_details["image_tokens"] = u["image_in"]
            if u.get("searches") and provider == "perplexity":
                prompt_details["web_search_requests"] = u["searches"]
            usage = Usage(prompt_tokens=u["input"], completion_tokens=u["output"], total_tokens=u["input"] + u["output"],
                          prompt_tokens_details=PromptTokensDetailsWrapper(**prompt_details) if prompt_details else None,
                          completion_tokens_details=CompletionTokensDetailsWrapper(audio_tokens=u["audio_out"])
                          if u.get("audio_out") else None,
                          server_tool_use=ServerToolUse(web_search_requests=u["searches"])
                          if u.get("searches") and provider == "anthropic" else None)
            try:
                cost = litellm.completion_cost(completion_response=ModelResponse(model=name, usage=usage), model=name,
                                               custom_llm_provider=provider)
            except Exception:  # LiteLLM cannot price it: nothing to compare
                continue
            cases.append({"m": name, "p": provider, "k": kind, "u": u, "c": repr(float(cost))})
    return cases


if __name__ == "__main__":
    if os.environ.get("WFLO_PARITY_INSIDE") == "1":
        run_inside()
    else:
        python = ensure_venv()
        os.execve(python, [python, os.path.abspath(__file__)] + sys.argv[1:],
                  {**os.environ, "WFLO_PARITY_INSIDE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
