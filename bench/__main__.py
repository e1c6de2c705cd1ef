"""``python -m bench [name ...]``: run benchmarks, write ``bench/results/<name>.json``, print
one summary line each. Without names, all run. They are measurements, not tests.

    python -m bench checksum_local checksum_s3 headers pipeline
    python -m bench checksum_s3 --s3-size 256MiB
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openem python -m bench oai
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openem \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 python -m bench pipeline --files 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openem python -m bench faults \\
        --fault-files 2000 --fault-count 100
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openem python -m bench load --users 50 \\
        --duration 60
"""

from __future__ import annotations

import argparse
import sys
import traceback
from types import ModuleType

from bench import checksum_local, checksum_s3, faults, headers, load, oai, pipeline, usage, watch
from bench.common import write_results

BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (checksum_local, checksum_s3, headers, pipeline, oai, usage, watch, faults, load)
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"benchmarks to run: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (best counts)")
    for module in BENCHMARKS.values():
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)

    # The pipeline benchmark points Django at its own database, so it prepares the environment
    # before Django is set up (once, for every benchmark of this run).
    if "pipeline" in names:
        pipeline.prepare_environment(args)
    if "oai" in names:
        oai.prepare_environment(args)
    if "usage" in names:
        usage.prepare_environment(args)
    if "faults" in names:
        faults.prepare_environment(args)
    if "load" in names:
        load.prepare_environment(args)
    from bench.common import setup_django

    setup_django()

    failed = False
    for name in names:
        try:
            figures = BENCHMARKS[name].run(args)
        except Exception:
            failed = True
            print(f"{name}: FAILED", file=sys.stderr)
            traceback.print_exc()
            continue
        path = write_results(name, figures)
        print(f"{figures['summary']}  [{path.relative_to(path.parent.parent.parent)}]", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
