"""The name matcher's cost: loading the shipped snapshot and building its automaton (once per
process), then `find` over each sample post cut or repeated to 5,000 characters.

    uv run python -m bench.names [--rounds 200] [--chars 5000]

Goal: `find` well under 1–2 ms on a 5,000-character post.
"""

from __future__ import annotations

import argparse
import statistics
import time

from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from digests.names import load
from tests.conftest import EXAMPLES, SHANGHAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--chars", type=int, default=5000)
    args = parser.parse_args()
    started = time.perf_counter()
    names = load(None)
    loaded = time.perf_counter()
    names.lookup("中际旭创")  # builds the automaton
    built = time.perf_counter()
    print(
        f"snapshot {names.path.name if names.path else '?'}: {len(names.listings):,} listings, "
        f"{len(names):,} securities; load {1000 * (loaded - started):.0f} ms, "
        f"automaton {1000 * (built - loaded):.0f} ms (once per process)"
    )
    print(f"{'post':<36} {'chars':>6} {'mentions':>9} {'median ms':>10} {'p95 ms':>7}")
    for path in sorted(EXAMPLES.glob("*.md")):
        draft = read_post_file(path, tz=SHANGHAI)
        text = markdown_to_text(draft.body_markdown).text
        text = (text * (args.chars // max(len(text), 1) + 1))[: args.chars]
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            found = names.find(text)
            times.append(1000 * (time.perf_counter() - t0))
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(
            f"{path.stem:<36} {len(text):>6} {len(found):>9} "
            f"{statistics.median(times):>10.3f} {p95:>7.3f}"
        )


if __name__ == "__main__":
    main()
