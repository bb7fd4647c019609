"""The digest policy's cost: how long the check takes on each sample post's offline digest,
as digesting runs it once and replies.view() runs it (recheck) whenever a publication is read
or sent under a strict DIGEST_POLICY, and what it removes.

    uv run python -m bench.policy [--rounds 200]

Goal: well under 10 ms a digest, so rechecking at every read costs nothing next to a send.
"""

from __future__ import annotations

import argparse
import time

from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from digests.summarize.extractive import extractive_digest
from digests.summarize.policy import DigestPolicy, PolicyRules, recheck
from tests.conftest import EXAMPLES, SHANGHAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    print(f"{'post':<36} {'policy':<13} {'ms/check':>9} {'points':>7} {'stocks':>7}")
    for path in sorted(EXAMPLES.glob("*.md")):
        draft = read_post_file(path, tz=SHANGHAI)
        text = markdown_to_text(draft.body_markdown).text
        digest = extractive_digest(draft.title, draft.body_markdown)
        points = sum(len(s.points) for s in digest.sections)
        stocks = sum(len(s.stocks) for s in digest.sections)
        for policy in (DigestPolicy.no_advice, DigestPolicy.sectors_only):
            rules = PolicyRules(policy)
            started = time.perf_counter()
            for _ in range(rounds):
                kept = recheck(
                    digest, rules, title=draft.title, text=text, markdown=draft.body_markdown
                )
            ms = (time.perf_counter() - started) * 1000 / rounds
            left = sum(len(s.points) for s in kept.sections)
            named = sum(len(s.stocks) for s in kept.sections)
            print(
                f"{path.stem:<36} {policy.value:<13} {ms:>9.2f} "
                f"{f'{left}/{points}':>7} {f'{named}/{stocks}':>7}"
            )


if __name__ == "__main__":
    main()
