"""`python -m bridges`: the Pub/Sub bridge is not built yet."""

import sys

print("the Pub/Sub bridge is not built yet", file=sys.stderr)
sys.exit(2)
