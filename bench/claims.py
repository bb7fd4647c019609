"""The grounding gate against the development set's claims (issue 22): each ideal's faithful
points and risks must be kept, and the claims that contradict the post (the mutation set made
from them, bench/mutations.py, and the ideal's hand-written `contradictions`) dropped.

Each claim is checked twice, as a model that cites would send it (citing the sentences its
`source` is) and as one that cites nothing (the gate finds the sentences). Part of
`bench.fidelity`'s report; `uv run python -m bench.claims [--show]` prints it alone.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.mutations import mutate
from digests.ingest.hexo import read_post_file
from digests.names import Dictionary, load
from digests.summarize.claims import Evidence
from digests.summarize.document import Document
from digests.summarize.grounding import ground
from digests.summarize.schema import Digest
from digests.summarize.stocks import Stocks, finder
from digests.summarize.units import norm

ROOT = Path(__file__).resolve().parent.parent
MODES = ("cited", "uncited")


@dataclass
class Tally:
    """How one post's claims fared, per mode: faithful kept, contradictions dropped."""

    post: str
    faithful: Counter[str] = field(default_factory=Counter)  # mode → claims
    kept: Counter[str] = field(default_factory=Counter)  # mode → faithful claims kept
    contradictions: Counter[str] = field(default_factory=Counter)  # (mode kind) → claims
    dropped: Counter[str] = field(default_factory=Counter)  # (mode kind) → dropped
    misses: list[str] = field(default_factory=list)  # wrong verdicts, for --show
    seconds: float = 0.0
    gate_ms: list[float] = field(default_factory=list)  # ground() of the ideal, per digest

    def add(self, other: Tally) -> None:
        for name in ("faithful", "kept", "contradictions", "dropped"):
            getattr(self, name).update(getattr(other, name))
        self.misses += [f"{other.post}: {m}" for m in other.misses]
        self.seconds += other.seconds
        self.gate_ms += other.gate_ms


def cites_of(source: str, evidence: Evidence) -> list[int]:
    """The numbers of the post's sentences that `source` (a quote of the post) is made of."""
    quote = norm(source)
    return [i + 1 for i, text in enumerate(evidence.texts) if text and text in quote] or [
        i + 1 for i, text in enumerate(evidence.texts) if quote and quote in text
    ]


def tally(
    slug: str,
    markdown: str,
    title: str,
    ideal: dict[str, Any],
    names: Dictionary,
    loose: list[dict[str, str]] = (),  # type: ignore[assignment]
) -> Tally:
    """The gate's verdicts on one post's faithful and contradicting claims (`loose`: claims
    without a source, checked as a model that cites nothing would send them)."""
    doc = Document(title, markdown)
    stocks = Stocks(doc, names)
    evidence = Evidence(doc, finder(names, stocks))
    counted = [n.name for n in stocks.named.values() if n.counts and n.code]
    subjects = sorted(set(counted), key=len, reverse=True)
    result = Tally(slug)
    claims = [p for s in ideal["sections"] for p in s["points"]] + list(ideal["risks"])
    faithful: list[dict[str, str]] = [c for c in claims if isinstance(c, dict) and c.get("source")]
    contradictions = [(c["text"], c["kind"], c["source"]) for c in ideal.get("contradictions", [])]
    for claim in faithful:
        for mutant in mutate(claim["text"], claim["source"], post=markdown, names=subjects):
            contradictions.append((mutant.text, f"made {mutant.kind}", mutant.source))
    faithful += [{"text": c["text"], "source": ""} for c in loose if c["kind"] == "faithful"]
    contradictions += [(c["text"], c["kind"], "") for c in loose if c["kind"] != "faithful"]
    # the whole gate on a digest of realistic size, before the claims below warm its caches
    digest = Digest.model_validate(ideal)
    started = time.process_time()  # CPU time: the machine's other load does not count
    ground(digest, title=title, text=markdown, markdown=markdown, names=names)
    result.gate_ms.append(1000 * (time.process_time() - started))
    started = time.perf_counter()
    for mode in MODES:
        for claim in faithful:
            cites = (
                cites_of(claim["source"], evidence) if mode == "cited" and claim["source"] else []
            )
            verdict = evidence.check(claim["text"], cites)
            result.faithful[mode] += 1
            result.kept[mode] += verdict.holds
            if not verdict.holds:
                result.misses.append(f"{mode} faithful dropped: {claim['text']} ({verdict.reason})")
        for text, kind, source in contradictions:
            cites = cites_of(source, evidence) if mode == "cited" and source else []
            verdict = evidence.check(text, cites)
            key = f"{mode} {kind}"
            result.contradictions[key] += 1
            result.dropped[key] += not verdict.holds
            if verdict.holds:
                result.misses.append(f"{key} kept: {text}")
    result.seconds = time.perf_counter() - started
    return result


def run(names: Dictionary | None = None, *, examples: Path = ROOT / "examples") -> list[Tally]:
    """Every ideal whose points carry their sources, and, when `examples` has one, the claims
    of its contradictions.json ([{"post", "text", "kind"}], kind "faithful" or a way of
    contradicting), which cite nothing."""
    names = names or load()
    names.find("中际旭创")  # the matcher is built once per process, not on the first digest
    tallies: list[Tally] = []
    listed = examples / "contradictions.json"
    loose = json.loads(listed.read_text(encoding="utf-8")) if listed.exists() else []
    for path in sorted((examples / "posts").glob("*.md")):
        draft = read_post_file(path, tz=ZoneInfo("Asia/Shanghai"))
        ideal_file = examples / "ideal" / f"{draft.slug}.json"
        if not ideal_file.exists():
            ideal_file = examples / "ideal" / f"{path.stem}.json"
        if not ideal_file.exists():
            continue
        ideal = json.loads(ideal_file.read_text(encoding="utf-8"))
        mine = [c for c in loose if c.get("post") in (draft.slug, path.stem)]
        result = tally(draft.slug, draft.body_markdown, draft.title, ideal, names, mine)
        if sum(result.faithful.values()):
            tallies.append(result)
    return tallies


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%} ({part}/{whole})" if whole else "n/a"


def report(tallies: list[Tally], *, show: bool = False) -> None:
    total = Tally("overall")
    for t in tallies:
        total.add(t)
    print(f"{'post':<34} {'mode':<8} {'faithful kept':>16} {'contradictions dropped':>24}")
    for t in [*tallies, total]:
        for mode in MODES:
            whole = sum(v for k, v in t.contradictions.items() if k.startswith(mode))
            part = sum(v for k, v in t.dropped.items() if k.startswith(mode))
            print(
                f"{t.post[:34]:<34} {mode:<8} {_share(t.kept[mode], t.faithful[mode]):>16}"
                f" {_share(part, whole):>24}"
            )
    for mode in MODES:
        for label, made in (("hand-written", False), ("generated", True)):
            keys = [k for k in total.contradictions if k.startswith(mode) and ("made" in k) == made]
            whole = sum(total.contradictions[k] for k in keys)
            part = sum(total.dropped[k] for k in keys)
            print(f"{mode} {label} contradictions dropped: {_share(part, whole)}")
    print("by kind: " + "; ".join(
        f"{k}: {_share(total.dropped[k], total.contradictions[k])}"
        for k in sorted(total.contradictions)
    ))  # fmt: skip
    claims = sum(total.faithful.values()) + sum(total.contradictions.values())
    per_digest = sorted(total.gate_ms) or [0.0]
    print(
        f"gate time: {1000 * total.seconds / max(claims, 1):.2f} ms per claim; a whole digest"
        f" (ground() of an ideal, CPU): median {per_digest[len(per_digest) // 2]:.1f} ms,"
        f" max {per_digest[-1]:.1f} ms"
    )
    if show:
        print("\n".join(total.misses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--show", action="store_true", help="print every wrong verdict")
    parser.add_argument("--examples", type=Path, default=ROOT / "examples", help="posts/, ideal/")
    args = parser.parse_args()
    report(run(examples=args.examples), show=args.show)


if __name__ == "__main__":
    main()
