"""A worker that leases the webhook inbox, says so, and waits to be killed (``test_inbox_crash``).

It prints exactly one JSON line, ``{"keys": [...]}``, once it holds the
lease, then sleeps until the parent kills it with SIGKILL: a worker that
died after HubSpot had its 204 and before it processed anything.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta

from sync.ledger import open_ledger

SLEEP_S = 600.0  # far longer than any test waits: the parent kills the process first


def main() -> None:
    """Lease the inbox, report, and sleep."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", default="")
    parser.add_argument("--now", required=True)
    parser.add_argument("--lease-s", type=float, required=True)
    args = parser.parse_args()

    now = datetime.fromisoformat(args.now)
    ledger = open_ledger(args.url, schema=args.schema or None)
    ledger.open(now)
    held = ledger.claim_webhooks("doomed-worker", 1000, now, timedelta(seconds=args.lease_s))
    print(json.dumps({"keys": [key for key, _ in held]}), flush=True)
    time.sleep(SLEEP_S)


if __name__ == "__main__":
    main()
