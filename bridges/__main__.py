"""`python -m bridges` runs the inbound relay; `python -m bridges outbox` the outbox relay."""

import sys

from app.config import get_settings
from bridges.runner import run_inbound, run_outbox

if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "inbound"
    sys.exit(run_outbox(get_settings()) if mode == "outbox" else run_inbound(get_settings()))
