#!/usr/bin/env python3
"""Regenerates pricing/ from LiteLLM's pricing data.

Usage: scripts/pricing/update.py WHEEL_OR_JSON
  WHEEL_OR_JSON: a litellm wheel (it carries litellm/model_prices_and_context_window_backup.json)
                 or the JSON file itself. Get a wheel with: pip download --no-deps -d /tmp/ll litellm

Writes pricing/model_prices_and_context_window.json (the JSON as LiteLLM ships it, byte for byte)
and pricing/SOURCE.json (where it came from: package, version, the wheel's and the JSON's sha256,
entry counts, and when it was generated). Then regenerate the parity fixture with
scripts/pricing/make_parity_fixture.py and run the WfloPricing tests.
"""
import datetime
import hashlib
import json
import os
import re
import sys
import zipfile

MEMBER = "litellm/model_prices_and_context_window_backup.json"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as wheel:
            data = wheel.read(MEMBER)
        with open(src, "rb") as f:
            wheel_sha256 = hashlib.sha256(f.read()).hexdigest()
        match = re.match(r"litellm-([^-]+)-", os.path.basename(src))
        origin = {"package": "litellm", "version": match.group(1) if match else "unknown",
                  "file": os.path.basename(src), "file_sha256": wheel_sha256, "member": MEMBER,
                  "url": "https://pypi.org/project/litellm/%s/" % (match.group(1) if match else "")}
    else:
        with open(src, "rb") as f:
            data = f.read()
        origin = {"file": os.path.basename(src)}
    table = json.loads(data)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pricing")
    with open(os.path.join(root, "model_prices_and_context_window.json"), "wb") as f:
        f.write(data)
    json.loads(data)  # refuse a file that is not JSON before touching pricing/
    origin.update({
        "sha256": hashlib.sha256(data).hexdigest(),
        "entries": sum(1 for k in table if k != "sample_spec"),
        "chat_entries": sum(1 for k, v in table.items() if isinstance(v, dict) and v.get("mode") == "chat"),
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    with open(os.path.join(root, "SOURCE.json"), "w") as f:
        json.dump(origin, f, indent=2, sort_keys=True)
        f.write("\n")
    print("pricing/: %(entries)d entries (%(chat_entries)d chat) from %(file)s" % origin)


if __name__ == "__main__":
    main()
