"""What `make run` prints once everything is ready: every URL, the key, a first settlement.

The walk-through is the README's Quickstart in short (its test runs the README's version).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from run_ports import Ports

RULE = "=" * 78


def urls(ports: Ports, *, pubsub: bool) -> list[tuple[str, str]]:
    """(what, URL) for every endpoint the run serves."""
    base, flower = f"http://127.0.0.1:{ports.api}", f"http://127.0.0.1:{ports.flower}"
    found = [("API", base), ("API docs", f"{base}/docs"), ("OpenAPI", f"{base}/openapi.json"),
             ("API metrics", f"{base}/metrics"), ("Flower", flower),
             ("Flower metrics", f"{flower}/metrics"),
             ("make run metrics", f"http://127.0.0.1:{ports.run_metrics}/metrics")]
    for name, port in (("bridge", ports.bridge_metrics), ("outbox relay", ports.outbox_metrics)):
        if not pubsub:
            found.append((f"{name} metrics", "not running (no Pub/Sub emulator)"))
        elif port:
            found.append((f"{name} metrics", f"http://127.0.0.1:{port}/metrics"))
        else:
            found.append((f"{name} metrics", "off (its *_METRICS_PORT is 0)"))
    return found


def banner(ports: Ports, *, pubsub: bool, key: str, key_file: str, flower_user: str,
           password_hint: str, groups: list[str], logs: str, log_names: list[str]) -> str:
    listed = "\n".join(f"  {what + ':':<22}{url}" for what, url in urls(ports, pubsub=pubsub))
    api = f"http://127.0.0.1:{ports.api}"
    escrow = ('{"payer":"alice","payee":"bob","amount":"250.00","asset":"USD",'
              '"release_delay_seconds":0,"approvals_required":1}')
    return f"""
{RULE}
Fusion Prime is running.
{listed}
  Dev API key:          {key}
                        (stored in {key_file}, mode 0600; all scopes)
  Flower login:         user {flower_user!r}, password: {password_hint}
  Workers:              one group per queue (pool processes): {", ".join(groups)}
  A child that dies is restarted with backoff (counts on the make run metrics above).

A first settlement, in a second shell in this checkout (README "Quickstart" has every step,
the DVP included; `fusion-prime` finds this stack through {Path(logs).parent}/env.sh):
  export PATH="$PWD/.venv/bin:$PATH" FUSION_API_KEY="$(cat {shlex.quote(key_file)})"
  fusion-prime demo seed                  # alice and bob: KYC approved, funded; prices
  curl -s -X POST {api}/v1/escrows -H "Authorization: Bearer $FUSION_API_KEY" \\
       -H "Content-Type: application/json" -d '{escrow}'
  fusion-prime commands wait COMMAND_ID   # then approvals {{"approver":"alice"}}, release {{}}
  curl -s {api}/v1/escrows/ESCROW_ID -H "Authorization: Bearer $FUSION_API_KEY"

Logs: {logs}/ ({", ".join(log_names)})
Ctrl-C to stop (a second Ctrl-C kills what is still running).
{RULE}"""
