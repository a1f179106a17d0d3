"""Count the instructions per decision of the risk benchmark's traffic (figures for docs/risk.md).

Wall-clock figures on a shared machine move with its load; instruction counts do not. Run::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \\
        python tests/risk/count_instructions.py [ROUNDS] [--no-rules]

It warms up the benchmark's decider (tests/benchmarks/test_bench_risk.py: 200,000 claims),
builds ROUNDS (default 200) rounds of 100 claims ahead, then has callgrind count only those
rounds (collection switched on and off around them by a tiny C library, compiled here
with ``cc`` against valgrind's ``callgrind.h``), with the cyclic garbage collector off so that a
collection landing in the window does not move the figure. Divide callgrind's "Collected" by
ROUNDS × 100. Needs valgrind and a C compiler; without valgrind the calls do nothing.
"""

from __future__ import annotations

import ctypes
import gc
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import test_bench_risk as bench

from engine.risk import default_pack

SOURCE = """#include <valgrind/callgrind.h>
void start(void) {
    CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT;
}
void stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS; }
"""


def _callgrind() -> ctypes.CDLL:
    folder = Path(tempfile.mkdtemp())
    (folder / "cg.c").write_text(SOURCE)
    library = folder / "libcg.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, folder / "cg.c"], check=True)
    return ctypes.CDLL(str(library))


def main(rounds: int, rules: bool) -> None:
    callgrind = _callgrind()
    decider = bench._Decider(default_pack() if rules else (), keep_log=False)
    decider.batches = iter([next(decider.batches) for _ in range(rounds)])
    gc.disable()
    callgrind.start()
    for _ in range(rounds):
        decider.decide_batch()
    callgrind.stop()
    print(f"{rounds * bench.BATCH} decisions counted ({'default pack' if rules else 'no rules'})")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 200, "--no-rules" not in sys.argv)
