"""Profile one HTTP intake batch and one import chunk in-process, on an existing database.

    python benchmarks/profile_hot.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_bench \
        --data benchmarks/data/medium --skip 200000

Run it after a benchmark, so the store already holds customers and orders. It takes orders
``skip+1 ..`` of the file (not yet stored) for the HTTP batch and the ones after for the
import chunk, so both are real inserts. The HTTP batch runs what the route runs, minus the ASGI
plumbing: parse the body, ``ingest`` in a unit of work, commit, validate and serialise the
``BatchOutcome`` response. The import chunk runs ``bot.intake.files.import_file``. Output:
cProfile tables (cumulative and own time) written next to the data, and a short summary.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _report(prof: cProfile.Profile, title: str, wall: float, out: Path) -> None:
    buf = io.StringIO()
    buf.write(f"# {title}: {wall * 1000:.0f} ms wall\n\n")
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    out.write_text(buf.getvalue(), encoding="utf-8")
    print(f"{title}: {wall * 1000:.0f} ms; profile in {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data/medium"))
    ap.add_argument("--skip", type=int, default=200_000, help="orders already in the store")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=2000)
    args = ap.parse_args(argv)

    from pydantic import TypeAdapter

    from bot.api.intake import BatchOutcome
    from bot.intake.files import import_file
    from bot.intake.kinds import ingest
    from storage.db import Database
    from storage.migrate import upgrade

    upgrade(args.database_url)  # the code may be newer than the benchmark's schema
    tz = ZoneInfo("Asia/Shanghai")
    with (args.data / "orders.jsonl").open("rb") as fh:
        lines = list(islice(fh, args.skip, args.skip + args.batch + args.chunk))
    body = b"[" + b",".join(x.rstrip(b"\n") for x in lines[: args.batch]) + b"]"
    db = Database(args.database_url)
    outcome = TypeAdapter(BatchOutcome)

    def http_batch() -> bytes:
        rows = json.loads(body)
        with db.uow() as uow:
            result = ingest(uow.session, "orders", rows, tz=tz)
            uow.commit()
        return outcome.dump_json(outcome.validate_python(result.as_dict()))

    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    http_batch()
    prof.disable()
    _report(
        prof,
        f"HTTP batch of {args.batch} orders",
        time.perf_counter() - started,
        args.data / "profile-http-batch.txt",
    )

    with tempfile.TemporaryDirectory() as tmp:
        chunk_file = Path(tmp) / "chunk.jsonl"
        chunk_file.write_bytes(b"".join(lines[args.batch :]))
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        import_file(db, "orders", chunk_file, tz=tz, chunk_size=args.chunk)
        prof.disable()
        _report(
            prof,
            f"import chunk of {args.chunk} orders",
            time.perf_counter() - started,
            args.data / "profile-import-chunk.txt",
        )
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
