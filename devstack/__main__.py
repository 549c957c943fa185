"""`python -m devstack`: the whole platform on this machine (what `make run` calls)."""

from __future__ import annotations

import sys

from devstack.stack import run_dev_stack

if __name__ == "__main__":
    sys.exit(run_dev_stack())
