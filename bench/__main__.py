"""Run benchmarks: `python -m bench` runs every bench/bench_*.py module's main();
`python -m bench registration` runs bench_registration only."""
from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    available = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                       if m.name.startswith("bench_"))
    # `python -m bench products slurm postgresql`: words after a benchmark's name that are
    # not benchmarks are that benchmark's own arguments (its main(argv)).
    if argv and argv[0] in available and any(a not in available for a in argv[1:]):
        print(f"## bench {argv[0]}", flush=True)
        return 1 if importlib.import_module(f"bench.bench_{argv[0]}").main(argv[1:]) else 0
    chosen = argv or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    failed = 0
    for name in chosen:
        print(f"## bench {name}", flush=True)
        result = importlib.import_module(f"bench.bench_{name}").main()
        failed += bool(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
