"""mention-monitor benchmarks: API efficiency, cold start, throughput and cost.

Run ``python3 -m bench`` from the repository root (see ``bench/README.md``). Everything runs
against local fakes: the fake X API on 127.0.0.1 and moto for AWS; nothing leaves the machine.
"""

import sys
from pathlib import Path

# This checkout's mention_monitor, even where another checkout is the editable install (as the
# tests do with pytest's pythonpath); the children get the same path (bench.coldstart.SRC_PATH).
_FUNCTIONS = str(Path(__file__).resolve().parents[1] / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.insert(0, _FUNCTIONS)
