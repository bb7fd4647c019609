"""One post → one grounded digest: a single LLM call when the post fits, map-reduce by headings
and paragraphs when it does not, the extractive digest when no LLM is configured.

Part sizes come from the model's context (LLM.room) where it is known, with DIGEST_CHUNK_CHARS
as the upper bound. A part the server still finds too long (a context overflow, or an answer
cut off at the context) is split again on its own: the parts already digested are kept. The
parts' digests are merged in rounds of as many as one prompt holds. The parts run at once as
far as the LLM's gate lets them, and the first failure cancels the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import unicodedata
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from digests.names import Dictionary, load
from digests.summarize.document import Document
from digests.summarize.extractive import extractive_digest
from digests.summarize.grounding import ground, needs_review, wrong_language
from digests.summarize.limits import estimate_tokens
from digests.summarize.llm import LLM, AnswerCutOff, ContextOverflow, Usage
from digests.summarize.policy import DigestPolicy, PolicyRules, enforce
from digests.summarize.prompts import PROMPT_VERSION, post_messages, reduce_messages
from digests.summarize.schema import GATES_OWN, Digest

log = logging.getLogger(__name__)
EXTRACTIVE_VERSION = "extractive-v3"  # v3: numbered sentences, the securities dictionary
MIN_PART_CHARS = 200  # below this a part has too little context to digest: give up instead


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
    output_mode: str | None = None  # the LLM output mode that worked (llm.MODES), to store


def cache_key(*, title: str, text: str, prompt_version: str, model: str, policy: str = "") -> str:
    """hash(normalised post text, prompt version, model[, policy]): equal keys never call the
    LLM again; `policy` is PolicyRules.key(), "" under `full` (so its keys are as they were)."""
    normalised = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", f"{title}\n{text}")).strip()
    version = f"{prompt_version}\x00{policy}" if policy else prompt_version
    return hashlib.sha256(f"{version}\x00{model}\x00{normalised}".encode()).hexdigest()


def identity(llm: LLM | None) -> tuple[str, str]:
    """(model, prompt version) that a digest made now would carry."""
    return (llm.model, PROMPT_VERSION) if llm else ("extractive", EXTRACTIVE_VERSION)


async def summarize(
    *,
    title: str,
    text: str,
    markdown: str,
    llm: LLM | None,
    budget: int,
    usage: Usage | None = None,
    rules: PolicyRules | None = None,
    names: Dictionary | None = None,
) -> Produced:
    """Digest a post and pass it through the grounding gate, then the digest policy's check
    (`rules`, DIGEST_POLICY). The model is shown the post as numbered sentences, which its
    claims cite. `names` is the securities dictionary (default: the shipped snapshot). Every
    LLM call is counted into `usage` (the caller's, when given) as it is made: the caller
    keeps the counts of a run that raises."""
    rules = rules or PolicyRules()
    names = names or load()
    model, version = identity(llm)
    usage = usage if usage is not None else Usage()
    parts, output_mode, source = 1, None, f"{title}\n{text}"
    if llm is None:
        digest, mode = extractive_digest(title, markdown or text, names), "extractive"
    else:
        numbered = Document(title, markdown or text).numbered()
        run = _Run(llm, title, budget, usage, rules.policy)
        digest, parts = await run.digest(numbered)
        if wrong_language(digest, source):  # small models drift into English: ask once more
            digest, parts = await run.digest(numbered)
        mode, output_mode = "llm", llm.mode
    grounded, dropped = ground(digest, title=title, text=text, markdown=markdown, names=names)
    known = rules.names(digest, title, text, markdown)
    grounded, removed = enforce(grounded, rules, title=title, names=known)
    dropped.update(removed)
    # the model's own text, before grounding replaces an English headline by the post's title
    wrong = wrong_language(digest, source)
    status = "needs_review" if wrong or needs_review(grounded, source) else "ready"
    return Produced(grounded, status, mode, model, version, dropped, usage, parts, output_mode)


@dataclass
class _Run:
    """One post's map-reduce: the LLM, the title, the character bound, the calls' counts."""

    llm: LLM
    title: str
    budget: int
    usage: Usage
    policy: DigestPolicy = DigestPolicy.full

    async def digest(self, text: str) -> tuple[Digest, int]:
        """The post's digest and the number of parts it was made of."""
        chunks = split_text(text, await self._part_chars(text))
        if len(chunks) == 1:
            partials = await self._part(text, None)
        else:
            log.info("%s: %d parts", self.title, len(chunks))
            partials = await _all(
                self._part(chunk, (index, len(chunks))) for index, chunk in enumerate(chunks, 1)
            )
        return await self._merge(partials), len(partials)

    async def _part(self, chunk: str, part: tuple[int | str, int] | None) -> list[Digest]:
        """The digest of one part, or of its pieces when the model finds it too long."""
        try:
            answer = await self.llm.digest(
                post_messages(self.title, chunk, part=part, policy=self.policy), self.usage
            )
        except (ContextOverflow, AnswerCutOff) as exc:
            size = len(chunk) // 2 + 1
            if isinstance(exc, ContextOverflow):  # the error may have told the context
                size = min(size, await self._part_chars(chunk))
            pieces = split_text(chunk, size)
            if size < MIN_PART_CHARS or len(pieces) < 2:
                raise
            log.info("%s: %d characters split in %d (%s)", self.title, len(chunk), len(pieces), exc)
            index, total = part or ("", len(pieces))
            return await _all(
                self._part(piece, (f"{index}.{j}" if index else j, total))
                for j, piece in enumerate(pieces, 1)
            )
        return [answer.digest]

    async def _part_chars(self, text: str) -> int:
        """How many characters of `text` one map prompt holds, DIGEST_CHUNK_CHARS at most."""
        probe = post_messages(self.title, "", part=("99.99", 99), policy=self.policy)
        room = await self.llm.room(probe)
        if room is None:
            return self.budget
        chars = min(self.budget, room * len(text) // max(1, estimate_tokens(text)))
        if chars < MIN_PART_CHARS:
            raise ContextOverflow(
                f"the model's context ({self.llm.context_tokens} tokens) leaves no room for the "
                "post after the prompt and the answer (DIGEST_MAX_OUTPUT_TOKENS)"
            )
        return chars

    async def _merge(self, partials: list[Digest]) -> Digest:
        """Merge in rounds, each merging groups of digests that fit one prompt."""
        while len(partials) > 1:
            partials = await _all(self._merge_group(g) for g in await self._groups(partials))
        return partials[0]

    async def _groups(self, partials: list[Digest]) -> list[list[Digest]]:
        """Consecutive digests, as many per group as the merge prompt holds, two at least."""
        room = await self.llm.room(reduce_messages(self.title, [], policy=self.policy))
        limit, cost = (self.budget, len) if room is None else (room, estimate_tokens)
        groups: list[list[Digest]] = [[]]
        used = 0
        for partial in partials:
            size = cost(partial.model_dump_json(exclude=set(GATES_OWN))) + 1
            if len(groups[-1]) >= 2 and used + size > limit:
                groups.append([])
                used = 0
            groups[-1].append(partial)
            used += size
        return groups

    async def _merge_group(self, group: list[Digest]) -> list[Digest]:
        if len(group) == 1:
            return group  # the odd one out joins the next round
        partials = [p.model_dump_json(exclude=set(GATES_OWN)) for p in group]
        try:
            answer = await self.llm.digest(
                reduce_messages(self.title, partials, policy=self.policy), self.usage
            )
        except (ContextOverflow, AnswerCutOff):
            if len(group) == 2:
                raise
            half = len(group) // 2  # two smaller merges: the next round merges their results
            return [*await self._merge_group(group[:half]), *await self._merge_group(group[half:])]
        return [answer.digest]


async def _all(coros: Iterable[Coroutine[Any, Any, list[Digest]]]) -> list[Digest]:
    """Run concurrently (the LLM's gate bounds the requests in flight), their digests in one
    list, in order; the first failure cancels the others and is raised as itself, not as an
    ExceptionGroup."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as failed:
        raise _first(failed) from None
    return [digest for task in tasks for digest in task.result()]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


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
