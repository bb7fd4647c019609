"""One post → one grounded digest: a single LLM call when the post fits the budget, map-reduce
by headings and paragraphs when it does not, the extractive digest when no LLM is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from digests.summarize.extractive import extractive_digest
from digests.summarize.grounding import ground, needs_review, wrong_language
from digests.summarize.llm import LLM, AnswerCutOff, Usage
from digests.summarize.prompts import PROMPT_VERSION, post_messages, reduce_messages
from digests.summarize.schema import Digest

EXTRACTIVE_VERSION = "extractive-v1"
_PARALLEL_PARTS = 4  # map calls in flight for one long post


@dataclass
class Produced:
    """A digest and how it was made."""

    digest: Digest
    status: str  # ready | needs_review
    mode: str  # llm | extractive
    model: str
    prompt_version: str
    dropped: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    parts: int = 1


def cache_key(*, title: str, text: str, prompt_version: str, model: str) -> str:
    """hash(normalised post text, prompt version, model): equal keys never call the LLM again."""
    normalised = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", f"{title}\n{text}")).strip()
    return hashlib.sha256(f"{prompt_version}\x00{model}\x00{normalised}".encode()).hexdigest()


def identity(llm: LLM | None) -> tuple[str, str]:
    """(model, prompt version) that a digest made now would carry."""
    return (llm.model, PROMPT_VERSION) if llm else ("extractive", EXTRACTIVE_VERSION)


async def summarize(
    *, title: str, text: str, markdown: str, llm: LLM | None, budget: int
) -> Produced:
    """Digest a post and pass it through the grounding gate."""
    model, version = identity(llm)
    usage = Usage()
    parts = 1
    if llm is None:
        digest, mode = extractive_digest(title, markdown), "extractive"
    else:
        chunks = split_text(text, budget)
        try:
            digest = await _map_reduce(llm, title, chunks, usage)
        except AnswerCutOff:
            # The answer did not fit the output limit even with more room: smaller parts.
            chunks = split_text(text, max(len(text) // (len(chunks) + 1), 500))
            digest = await _map_reduce(llm, title, chunks, usage)
        mode, parts = "llm", len(chunks)
    grounded, dropped = ground(digest, title=title, text=text, markdown=markdown)
    # the model's own text, before grounding replaces an English headline by the post's title
    wrong = wrong_language(digest, f"{title}\n{text}")
    status = "needs_review" if wrong or needs_review(grounded) else "ready"
    return Produced(grounded, status, mode, model, version, dropped, usage, parts)


async def _map_reduce(llm: LLM, title: str, chunks: list[str], usage: Usage) -> Digest:
    if len(chunks) == 1:
        answer = await llm.digest(post_messages(title, chunks[0]))
        usage.add(answer.usage)
        return answer.digest
    gate = asyncio.Semaphore(_PARALLEL_PARTS)

    async def part(index: int, chunk: str) -> Digest:
        async with gate:
            answer = await llm.digest(post_messages(title, chunk, part=(index, len(chunks))))
        usage.add(answer.usage)
        return answer.digest

    partials = await asyncio.gather(*(part(i, c) for i, c in enumerate(chunks, 1)))
    merged = await llm.digest(reduce_messages(title, [p.model_dump_json() for p in partials]))
    usage.add(merged.usage)
    return merged.digest


def split_text(text: str, budget: int) -> list[str]:
    """Parts of at most `budget` characters, cut between paragraphs (a heading starts a new
    part once the current one is three quarters full), a long paragraph between sentences."""
    if len(text) <= budget:
        return [text]
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        pieces += _sentences(paragraph, budget) if len(paragraph) > budget else [paragraph]
    parts: list[str] = []
    current = ""
    for piece in pieces:
        heading = "\n" not in piece and len(piece) < 40 and not piece.endswith(("。", "！", "？"))
        too_long = len(current) + len(piece) + 2 > budget
        if current and (too_long or (heading and len(current) > budget * 3 // 4)):
            parts.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _sentences(paragraph: str, budget: int) -> list[str]:
    out: list[str] = []
    current = ""
    for sentence in re.findall(r"[^。！？!?\n]*[。！？!?\n]?", paragraph):
        while len(sentence) > budget:  # a "sentence" longer than the budget: hard cut
            out.append(sentence[:budget])
            sentence = sentence[budget:]
        if len(current) + len(sentence) > budget:
            out.append(current)
            current = ""
        current += sentence
    if current:
        out.append(current)
    return [piece for piece in out if piece.strip()]
