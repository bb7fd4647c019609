"""LLM calls and tokens per post: the sample posts, a 60,000-character post, and a repeat.

    uv run python -m bench.digest            # against a loopback fake OpenAI-compatible server
    OPENAI_BASE_URL=… OPENAI_API_KEY=… DIGEST_MODEL=… uv run python -m bench.digest   # a real one

Goal: 1 call for a post under the budget (DIGEST_CHUNK_CHARS), 0 calls on a repeat. With the
fake server, prompt tokens are counted as characters sent (about right for Chinese text).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.container import open_services
from digests import posts
from digests.ingest.core import ingest
from digests.settings import Settings
from digests.summarize import digesting
from tests.fake_llm import GOOD, FakeLLM, Reply, completion, fake_llm

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "posts"


def counting(request: dict[str, Any]) -> Reply:
    sent = sum(len(m["content"]) for m in request["messages"])
    return completion(GOOD, prompt_tokens=sent, completion_tokens=len(str(GOOD)))


def long_post(folder: Path) -> None:
    """A 60,000-character post: the seed's body repeated under numbered headings."""
    seed = (EXAMPLES / "2-10-zhui-zong.md").read_text(encoding="utf-8").split("---", 2)[2]
    body, n = "", 0
    while len(body) < 60_000:
        n += 1
        body += f"\n\n## 第{n}部分\n\n{seed.strip()}"
    (folder / "long.md").write_text(
        f"---\ntitle: 长文测试\ndate: 2026-02-13 09:00:00\n---\n{body}", encoding="utf-8"
    )


@contextlib.contextmanager
def server_for(settings: Settings) -> Iterator[FakeLLM | None]:
    if settings.llm_configured:
        yield None
        return
    with fake_llm() as fake:
        fake.handler = counting
        yield fake


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, server_for(Settings()) as fake:
        folder = Path(tmp)
        for post in EXAMPLES.glob("*.md"):
            (folder / post.name).write_text(post.read_text(encoding="utf-8"), encoding="utf-8")
        long_post(folder)
        overrides: dict[str, Any] = {"database_url": f"sqlite:///{tmp}/bench.db"}
        if fake is not None:
            overrides |= {"openai_base_url": fake.base_url, "digest_model": "fake-model"}
        settings = Settings(**overrides)
        async with open_services(settings) as services:
            ctx = services.ingest_context()
            [_ async for _ in ingest([str(folder)], ctx)]
            dctx = services.digest_context()
            print(f"model: {settings.digest_model}  budget: {settings.digest_chunk_chars} chars")
            print(
                f"{'post':<34} {'chars':>7} {'calls':>5} {'prompt tok':>10} {'compl tok':>9}"
                f" {'repeat calls':>12}"
            )
            for row in await posts.list_posts(ctx):
                post = await digesting.find_post(dctx, row["slug"])
                first = await digesting.digest_post(dctx, post)
                sent = len(fake.requests) if fake else 0
                repeat = await digesting.digest_post(dctx, post)
                # the fake server counts requests it really received; a real one: the store
                again = len(fake.requests) - sent if fake else repeat.llm_calls - first.llm_calls
                print(
                    f"{post.slug[:34]:<34} {len(post.body_text):>7} {first.llm_calls:>5} "
                    f"{first.prompt_tokens:>10} {first.completion_tokens:>9} {again:>12}"
                )


if __name__ == "__main__":
    asyncio.run(main())
