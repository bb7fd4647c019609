"""/ask 问题: an answer from the archive, in the author's words, citing 《标题》(日期).

Only docs the reader is entitled to are retrieved (the entitlement is part of the full-text
query), so a locked post's text never reaches the model for that reader. The model is told to
answer from the passages only; its answer is then checked: a sentence citing no retrieved
title is dropped, and an answer left with nothing becomes "the archive does not cover it".
Answers are cached by (question, the passages' docs): the passages are what the reader's
entitlement selected, so two readers with the same access share an answer and others do not.
Without an LLM, or when it fails, the reader gets the passages' posts as search results.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time

import httpx
import openai
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.archive import search
from digests.archive.search import Hit, Period, periods_of
from digests.index.tokens import query_terms
from digests.models import AskAnswer, AskUse, Subscriber, utcnow
from digests.replies import Reply, StoreContext, command
from digests.summarize.llm import LLM
from digests.summarize.policy import scrub

log = logging.getLogger(__name__)
PASSAGES, PASSAGE_CHARS = 5, 400
NOT_COVERED = "存档里没有找到能回答这个问题的内容。"
# question words that say nothing about the subject: dropped before retrieval
_FILLER = re.compile(
    r"为什么|为何|什么|怎么样|怎么|如何|哪些|哪个|是否|是不是|有没有|可以|能否|"
    r"作者|博主|认为|觉得|看好|看法|观点|现在|目前|最近|还|吗|呢|吧|啊|的|了|和|与|及|对|"
    r"[？?！!，,。.、：:；;（）()\s]+"
)
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_CITED = re.compile(r"《([^》]+)》")
SYSTEM = (
    "你是一个投研博客的存档助手。只根据用户给出的摘录回答，用中文写三到五句话。"
    "每一句都必须以《标题》(日期)注明出处，标题和日期照抄摘录的。"
    "只转述作者的原话和理由，不给任何摘录之外的建议、判断或预测，不编造。"
    f"如果摘录不能回答问题，只回答：{NOT_COVERED}"
)


@dataclass
class AskContext:
    """What /ask needs: the store, the LLM (None: search results instead) and the limit."""

    store: StoreContext
    llm: LLM | None
    daily_limit: int = 20
    timeout: float = 60.0


def ask_terms(question: str) -> list[list[str]]:
    """The question's subject words: what is left between its question words."""
    normal = unicodedata.normalize("NFKC", question)
    return query_terms(" ".join(_FILLER.split(normal)))


async def ask(ctx: AskContext, reader: Subscriber, question: str) -> Reply:
    """/ask: the answer, the search results when no model answers, or why not."""
    question = question.strip()
    if not question:
        return Reply(f"用法：{command('ask', '问题')}（如 {command('ask', '为什么看好液冷？')}）")
    if not await _count_use(ctx, reader):
        return Reply(f"今天的提问次数已用完（每天 {ctx.daily_limit} 次），明天再来吧。")
    terms = ask_terms(question)
    async with ctx.store.sessions() as session:
        periods = await periods_of(session, reader)
        hits = await _retrieve(session, terms, periods)
        texts = await search.bodies(session, hits, ctx.store.rules)
        hidden = await search.stock_names(session, hits, ctx.store.rules)
    if not hits:
        return Reply(NOT_COVERED)
    sources = {hit.title: _day(ctx, hit) for hit in hits}
    prompt = _prompt(ctx, question, hits, texts)
    # the policy is part of the key: an answer given under another is never reused
    asked = f"{question}\n{sorted(h.doc_id for h in hits)}\n{ctx.store.rules.key()}"
    key = hashlib.sha256(asked.encode()).hexdigest()
    async with ctx.store.sessions() as session:
        cached = await session.get(AskAnswer, key)
    if cached is not None:
        return Reply(cached.answer)
    answer = await _answer(ctx, prompt)
    if answer is None:
        return await _fallback(ctx, reader, hits, texts, question)
    # the passages were scrubbed; a model may still add advice of its own
    checked = check_citations(scrub(answer, ctx.store.rules, hidden), sources)
    text = checked or NOT_COVERED
    async with ctx.store.sessions() as session, session.begin():
        await session.merge(AskAnswer(key=key, answer=text))
    return Reply(text)


async def _retrieve(
    session: AsyncSession, terms: list[list[str]], periods: list[Period]
) -> list[Hit]:
    """Entitled docs holding the subject words as written; else their bigrams anywhere in a
    doc; else any of them (a question's words are seldom one post's exact phrase)."""
    tokens = [[token] for term in terms for token in term]
    for query, any_term in ((terms, False), (tokens, False), (tokens, True)):
        hits = await search.find(session, query, limit=PASSAGES, periods=periods, any_term=any_term)
        if hits:
            return hits
    return []


def check_citations(answer: str, sources: dict[str, str]) -> str:
    """The answer's sentences that cite at least one retrieved title and nothing else."""
    kept = []
    for sentence in _SENTENCE.findall(answer):
        cited = _CITED.findall(sentence)
        if cited and all(title.strip() in sources for title in cited):
            kept.append(sentence.strip())
    return "".join(kept)


async def _count_use(ctx: AskContext, reader: Subscriber) -> bool:
    """Count this ask against today's limit (days in TIMEZONE); False when it is used up."""
    today = datetime.combine(utcnow().astimezone(ctx.store.tz).date(), time(), ctx.store.tz)
    async with ctx.store.sessions() as session, session.begin():
        used = (
            await session.exec(
                select(func.count())
                .select_from(AskUse)
                .where(col(AskUse.subscriber_id) == reader.id, col(AskUse.at) >= today)
            )
        ).one()
        if used >= ctx.daily_limit:
            return False
        session.add(AskUse(subscriber_id=reader.id or 0))
    return True


def _day(ctx: AskContext, hit: Hit) -> str:
    return hit.published_at.astimezone(ctx.store.tz).strftime("%Y-%m-%d")


def _prompt(ctx: AskContext, question: str, hits: list[Hit], texts: dict[int, str]) -> str:
    """The question and, per hit, the passage around its first match (entitled docs only)."""
    parts = [f"问题：{question}", "", "摘录："]
    words = " ".join(question_words(question))
    for hit in hits:
        passage = search.snippet(texts.get(hit.doc_id, ""), words, width=PASSAGE_CHARS)
        parts.append(f"《{hit.title}》({_day(ctx, hit)})\n{passage}\n")
    return "\n".join(parts)


def question_words(question: str) -> list[str]:
    """The subject words as the reader wrote them (for cutting passages)."""
    return [w for w in _FILLER.split(unicodedata.normalize("NFKC", question)) if w]


async def _answer(ctx: AskContext, prompt: str) -> str | None:
    """The model's answer, or None without a model or when it fails (logged)."""
    if ctx.llm is None:
        return None
    try:
        reply = await ctx.llm.client.chat.completions.create(
            model=ctx.llm.model,
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
            max_tokens=600,
            temperature=0.2,
            timeout=ctx.timeout,
        )
    except (openai.OpenAIError, httpx.HTTPError) as exc:
        log.warning("/ask: the model did not answer: %s", exc)
        return None
    content = reply.choices[0].message.content if reply.choices else None
    return content.strip() if content else None


async def _fallback(
    ctx: AskContext, reader: Subscriber, hits: list[Hit], texts: dict[int, str], question: str
) -> Reply:
    """The retrieved posts as search results (every one is entitled: it was retrieved so)."""
    words = " ".join(question_words(question))
    lines = ["暂时无法生成回答，以下是存档中的相关内容："]
    for n, hit in enumerate(hits, 1):
        snippet = search.snippet(texts.get(hit.doc_id, ""), words)
        lines.append(f"{n}. 《{hit.title}》{_day(ctx, hit)}\n   {snippet}")
    return Reply("\n".join(lines))
