"""Per-reader fingerprints: CPU to stamp one reader's copy over the once-rendered parts (the
cost the outbox adds per message), to find the marks in a copy, and for `trace` to match a
tag against N readers (one HMAC each).

    uv run python -m bench.fingerprint [--readers 100000]
"""

from __future__ import annotations

import argparse
import time

from bot.telegram.sender import reply_parts
from digests import fingerprint, render
from digests.replies import DigestView, Reply
from tests.test_render import TYPICAL, big_digest

KEY = fingerprint.key("bench")


def per_call(label: str, calls: int, job: object) -> None:
    assert callable(job)
    started = time.process_time()
    for _ in range(calls):
        job()
    micro = (time.process_time() - started) / calls * 1e6
    print(f"{label:<52} {micro:8.1f} µs")


def main(readers: int) -> None:
    for name, digest in (
        ("typical digest", TYPICAL),
        ("long digest (40 points × 6)", big_digest(40)),
    ):
        reply = Reply(digest=DigestView(digest, "标题", False, 1))
        parts = reply_parts(reply)
        mark = fingerprint.mark_for(KEY, "telegram", "1", 1, fingerprint.Medium.MESSAGE)
        reply_parts(reply, mark)  # insertion points found once per publication
        marked = reply_parts(reply, mark)
        size = sum(render.telegram_visible_len(p) for p in parts)
        added = sum(render.telegram_visible_len(p) for p in marked) - size
        print(f"{name}: {len(parts)} part(s), {size} UTF-16 units, marks add {added}")
        per_call(
            "  render once (telegram_html, no cache)", 200, lambda d=digest: render.telegram_html(d)
        )
        counter = iter(range(10**9))
        per_call(
            "  stamp one reader's copy (mark + stamp_parts)",
            2000,
            lambda r=reply, c=counter: reply_parts(
                r,
                fingerprint.mark_for(KEY, "telegram", str(next(c)), 1, fingerprint.Medium.MESSAGE),
            ),
        )
        copy = "\n".join(marked)
        per_call("  find the marks in the whole copy", 200, lambda c=copy: fingerprint.find(c))
    ids = [str(10_000 + n) for n in range(readers)]
    started = time.perf_counter()
    for external_id in ids:
        fingerprint.reader_tag(KEY, "telegram", external_id)
    print(f"trace: {readers} readers' tags recomputed in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    main(parser.parse_args().readers)
