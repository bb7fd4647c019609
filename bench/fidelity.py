"""Fidelity: how close the pipeline's digests come to hand-written ideal ones (issues 18, 22),
and how the grounding gate treats the ideals' claims and their contradictions (bench.claims).

    uv run python -m bench.fidelity [--json]          # no server configured: the extractive digest
    OPENAI_BASE_URL=http://127.0.0.1:8080/v1 DIGEST_MODEL=qwen2.5-1.5b-instruct \\
        uv run python -m bench.fidelity [--json] [--offline] [--post SLUG] [--show]

Every post in examples/posts whose slug has an ideal in examples/ideal/<slug>.json is digested
by the real pipeline (no database, no cache) and scored: stock precision and recall, ideal
sections found, ideal events found with the right date, events invented, items the grounding
gate dropped, stock strings that are not a whole name in the post, calls, tokens, wall time.

An ideal is Digest JSON plus two optional keys: `also_ok`, names that may be listed as stocks
but are not required (NVIDIA where the post only discusses it), and `aliases`, other spellings
of a stock (旭创 → 中际旭创). A section name, event title or `when` lists its accepted wordings
separated by "/". Matching is lenient: NFKC, case and whitespace ignored, names by containment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import claims
from bot.container import make_client
from digests.errors import LLMError
from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from digests.names import load
from digests.settings import Settings
from digests.summarize.llm import LLM, Usage
from digests.summarize.pipeline import Produced, summarize
from digests.summarize.schema import Digest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"  # posts/ and ideal/; --examples names another such folder
POSTS, IDEALS = EXAMPLES / "posts", EXAMPLES / "ideal"
NAMES = load()  # the shipped securities dictionary
_JOINED = re.compile(r"[、,，;；/|｜]")  # a list separator: several names passed off as one
_LATIN = re.compile(r"[a-z][a-z0-9.&-]*")


def norm(text: str) -> str:
    """NFKC, casefolded, without whitespace: the form names are compared in."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def wordings(text: str) -> list[str]:
    """The accepted wordings of an ideal name, title or `when` ("美国非农/非农")."""
    return [norm(part) for part in text.split("/") if norm(part)]


def _names_match(ideal: str, produced: str) -> bool:
    got = norm(produced)
    return bool(got) and any(w in got or got in w for w in wordings(ideal))


def _date_right(ideal: str, produced: str) -> bool:
    """The post's `when` is in the produced one, not shifted a week (下周五 is not 周五)."""
    got = norm(produced)
    for want in wordings(ideal):
        at = got.find(want)
        if at == 0 or (at > 0 and got[at - 1] not in "上下"):
            return True
    return False


def non_post(stock: str, post: str) -> bool:
    """Not a whole name in the post: several names joined, absent from the post, or a Latin
    name found only inside a longer Latin word ("Lite" in "Satellite")."""
    name = norm(stock)
    if not name or _JOINED.search(stock.strip()) or name not in norm(post):
        return True
    spaced = unicodedata.normalize("NFKC", post).casefold()  # spaces still part words here
    return any(
        not re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", spaced)
        for word in _LATIN.findall(unicodedata.normalize("NFKC", stock).casefold())
    )


@dataclass
class Score:
    """One digest against its ideal."""

    post: str
    stocks_ideal: int = 0
    stocks_found: int = 0  # ideal stocks the digest lists (recall)
    stocks_listed: int = 0  # distinct stocks listed, `also_ok` ones left out (precision)
    stocks_right: int = 0
    stocks_wrong: list[str] = field(default_factory=list)  # listed, neither ideal nor also_ok
    sections_ideal: int = 0
    sections_found: int = 0
    events_ideal: int = 0
    events_right: int = 0  # ideal events listed with the post's date
    events_invented: list[str] = field(default_factory=list)  # title matches no ideal event
    non_post_stocks: list[str] = field(default_factory=list)
    dropped: int = 0
    claims_made: int = 0  # the digest's claims before the gate (summary, points, risks)
    claims_kept: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def precision(self) -> float | None:
        return self.stocks_right / self.stocks_listed if self.stocks_listed else None

    @property
    def recall(self) -> float | None:
        return self.stocks_found / self.stocks_ideal if self.stocks_ideal else None


def score(post: str, text: str, digest: Digest, ideal: dict[str, Any]) -> Score:
    """How `digest` of a post (`text`: what the model was shown) compares with `ideal`."""
    aliases = {norm(k): norm(v) for k, v in ideal.get("aliases", {}).items()}
    want = {norm(s) for section in ideal["sections"] for s in section["stocks"]}
    optional = {norm(s) for s in ideal.get("also_ok", [])} - want
    raw = [s for section in digest.sections for s in section.stocks]
    listed = {aliases.get(norm(s), norm(s)) for s in raw if norm(s)}
    counted = listed - optional
    found = 0
    for wanted in ideal["events"]:
        found += any(
            _names_match(wanted["title"], e.title) and _date_right(wanted["when"], e.when)
            for e in digest.events
        )
    return Score(
        post=post,
        stocks_ideal=len(want),
        stocks_found=len(want & listed),
        stocks_listed=len(counted),
        stocks_right=len(counted & want),
        stocks_wrong=sorted(counted - want),
        sections_ideal=len(ideal["sections"]),
        sections_found=sum(
            any(_names_match(s["name"], got.name) for got in digest.sections)
            for s in ideal["sections"]
        ),
        events_ideal=len(ideal["events"]),
        events_right=found,
        events_invented=[
            f"{e.title} ({e.when})"
            for e in digest.events
            if not any(_names_match(w["title"], e.title) for w in ideal["events"])
        ],
        non_post_stocks=sorted({s for s in raw if non_post(s, text)}),
    )


def ideal_of(examples: Path, slug: str, post: Path) -> Path:
    """A post's ideal: named by its slug, or by its file's name."""
    by_slug = examples / "ideal" / f"{slug}.json"
    return by_slug if by_slug.exists() else examples / "ideal" / f"{post.stem}.json"


def dropped_count(dropped: dict[str, Any]) -> int:
    """Items the grounding gate removed, with fields cut or dropped for size."""
    return sum(
        len(v) if isinstance(v, list) else sum(v.values())
        for k, v in dropped.items()
        if k != "added"  # stocks completed from the post's own lists, not removals
    )


async def digest_of(
    title: str, text: str, markdown: str, llm: LLM | None, budget: int, usage: Usage
) -> Produced:
    """The one call into the pipeline; `usage` keeps the counts of a run that fails."""
    return await summarize(
        title=title,
        text=text,
        markdown=markdown,
        llm=llm,
        budget=budget,
        usage=usage,
        names=NAMES,
    )


async def run(
    settings: Settings,
    *,
    offline: bool = False,
    only: str = "",
    show: bool = False,
    examples: Path = EXAMPLES,
) -> list[Score]:
    """Digest and score every post that has an ideal (or the one `only` names); a failed
    digest scores as empty; `show` prints each digest as stored."""
    client = None if offline else make_client(settings)
    llm = None
    if client is not None:
        limit = settings.digest_max_output_tokens
        llm = LLM(
            client,
            model=settings.digest_model,
            max_output_tokens=limit,
            context_tokens=settings.llm_context_tokens,
            concurrency=settings.llm_concurrency,
        )
    scores: list[Score] = []
    try:
        for path in sorted((examples / "posts").glob("*.md")):
            draft = read_post_file(path, tz=settings.tz)
            ideal_file = ideal_of(examples, draft.slug, path)
            if not ideal_file.exists() or (only and draft.slug != only):
                continue
            ideal = json.loads(ideal_file.read_text(encoding="utf-8"))
            text = markdown_to_text(draft.body_markdown).text
            started, usage = time.perf_counter(), Usage()
            try:
                produced = await digest_of(
                    draft.title, text, draft.body_markdown, llm, settings.digest_chunk_chars, usage
                )
            except LLMError as exc:
                empty = Digest(headline="", summary="", sections=[], risks=[], events=[])
                result = score(draft.slug, f"{draft.title}\n{text}", empty, ideal)
                result.error = str(exc)
            else:
                if show:
                    print(produced.digest.model_dump_json(indent=1), produced.dropped)
                result = score(draft.slug, f"{draft.title}\n{text}", produced.digest, ideal)
                result.dropped = dropped_count(produced.dropped)
                result.claims_kept = len(produced.digest.claims())
                lost = sum(len(produced.dropped.get(k, [])) for k in ("summary", "points", "risks"))
                result.claims_made = result.claims_kept + lost
            result.calls, result.prompt_tokens = usage.calls, usage.prompt_tokens
            result.completion_tokens = usage.completion_tokens
            result.seconds = round(time.perf_counter() - started, 1)
            scores.append(result)
    finally:
        if client is not None:
            await client.close()
    return scores


def overall(scores: list[Score]) -> Score:
    """The sums over all posts (precision and recall pooled over every stock)."""
    total = Score(post="overall")
    for s in scores:
        for name, value in asdict(s).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(total, name, getattr(total, name) + value)
            elif isinstance(value, list):
                getattr(total, name).extend(f"{s.post}: {item}" for item in value)
    total.seconds = round(total.seconds, 1)
    total.error = "; ".join(f"{s.post}: {s.error}" for s in scores if s.error)
    return total


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def report(scores: list[Score], model: str) -> None:
    print(f"model: {model}")
    print(
        f"{'post':<32} {'stock P':>7} {'R':>11} {'sections':>8} {'events':>6} {'invented':>8}"
        f" {'dropped':>7} {'non-post':>8} {'claims':>9} {'calls':>5} {'tokens':>7} {'s':>6}"
    )
    for s in [*scores, overall(scores)]:
        print(
            f"{s.post[:32]:<32} {_ratio(s.precision):>7}"
            f" {_ratio(s.recall):>4} ({s.stocks_found:>2}/{s.stocks_ideal:>2})"
            f" {s.sections_found:>3}/{s.sections_ideal:<4} {s.events_right:>2}/{s.events_ideal:<3}"
            f" {len(s.events_invented):>8} {s.dropped:>7} {len(s.non_post_stocks):>8}"
            f" {s.claims_kept:>4}/{s.claims_made:<4}"
            f" {s.calls:>5} {s.prompt_tokens + s.completion_tokens:>7} {s.seconds:>6.1f}"
        )
    total = overall(scores)
    lists = {"wrong stocks": total.stocks_wrong, "invented": total.events_invented}
    for label, items in {**lists, "non-post": total.non_post_stocks}.items():
        if items:
            print(f"{label}: " + " | ".join(items))
    if total.error:
        print(f"failed: {total.error}")


def as_json(scores: list[Score], model: str) -> dict[str, Any]:
    def row(s: Score) -> dict[str, Any]:
        return {**asdict(s), "precision": s.precision, "recall": s.recall}

    return {"model": model, "posts": [row(s) for s in scores], "overall": row(overall(scores))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--offline", action="store_true", help="the extractive digest only")
    parser.add_argument("--post", default="", help="only this slug (e.g. 2-10-zhui-zong)")
    parser.add_argument("--show", action="store_true", help="print each digest and its drops")
    parser.add_argument("--claims", action="store_true", help="also print every wrong verdict")
    parser.add_argument(
        "--examples", type=Path, default=EXAMPLES, help="a folder of posts/ and ideal/ (a set "
        "kept outside the repository); its contradictions.json, if any, is scored too",
    )  # fmt: skip
    args = parser.parse_args()
    settings = Settings()
    offline = args.offline or not settings.llm_configured
    model = "extractive" if offline else settings.digest_model
    scores = asyncio.run(
        run(settings, offline=offline, only=args.post, show=args.show, examples=args.examples)
    )
    if args.json:
        print(json.dumps(as_json(scores, model), ensure_ascii=False, indent=2))
        return
    report(scores, model)
    print()
    claims.report(claims.run(NAMES, examples=args.examples), show=args.claims)


if __name__ == "__main__":
    main()
