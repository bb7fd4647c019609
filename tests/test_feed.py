"""Feeds and pages over real loopback HTTP: RSS 2.0, Atom, conditional GET, errors."""

from __future__ import annotations

from digests import store
from digests.ingest.core import IngestContext, ingest
from digests.ingest.draft import Outcome
from tests.conftest import FIXTURES, Blog, Route

HBE = FIXTURES / "hexo" / "v3"  # made by the real hexo + hexo-blog-encrypt 3.1.9
V4 = FIXTURES / "hexo" / "v4"

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>投研</title><link>https://blog.example.com/</link>
<item><title>周一复盘</title><link>https://blog.example.com/monday-review/</link>
<guid>https://blog.example.com/monday-review/</guid>
<pubDate>Mon, 02 Mar 2026 01:30:00 GMT</pubDate><category>投研</category>
<description><![CDATA[<p>算力链继续走强，<strong>天孚通信</strong>领涨。</p>
<p><a href="https://example.com/x">原文</a></p>]]></description></item>
<item><title>没有日期</title><link>https://blog.example.com/no-date/</link>
<description>x</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>投研</title><id>urn:blog</id>
<updated>2026-03-03T12:00:00+08:00</updated>
<entry><title>周二复盘</title><id>urn:uuid:2</id>
<link href="https://blog.example.com/tuesday-review/"/>
<published>2026-03-03T20:00:00+08:00</published><updated>2026-03-03T20:00:00+08:00</updated>
<content type="html">&lt;p&gt;CPI周五公布&lt;/p&gt;</content></entry></feed>"""


async def run(ctx: IngestContext, url: str) -> list[Outcome]:
    return [o async for o in ingest([url], ctx)]


async def test_rss_entries_become_posts_and_a_bad_entry_fails_alone(
    ctx: IngestContext, blog: Blog
) -> None:
    """RSS 2.0: the dated entry lands, the dateless one fails with its reason."""
    blog.routes["/rss2.xml"] = Route(body=RSS.encode(), headers={"Content-Type": "application/xml"})
    outcomes = await run(ctx, blog.url("/rss2.xml"))
    assert [(o.status, o.slug) for o in outcomes] == [
        ("failed", "no-date"),
        ("new", "monday-review"),
    ]
    assert "no date" in outcomes[0].detail
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="monday-review")
    assert post is not None and post.source == "feed" and not post.gated
    assert "天孚通信领涨" in post.body_text and post.categories == ["投研"]
    assert post.links == [{"text": "原文", "url": "https://example.com/x"}]


async def test_atom_feed_served_as_text_plain_is_recognised(ctx: IngestContext, blog: Blog) -> None:
    """Atom works and a feed is recognised by its bytes even with a wrong content type."""
    blog.routes["/atom.xml"] = Route(body=ATOM.encode(), headers={"Content-Type": "text/plain"})
    [outcome] = await run(ctx, blog.url("/atom.xml"))
    assert (outcome.status, outcome.slug) == ("new", "tuesday-review")


async def test_conditional_get_uses_the_etag_and_a_304_changes_nothing(
    ctx: IngestContext, blog: Blog
) -> None:
    """The second poll sends If-None-Match and the 304 reports the feed unchanged."""
    blog.routes["/atom.xml"] = Route(
        body=ATOM.encode(),
        headers={
            "Content-Type": "application/atom+xml",
            "ETag": '"v1"',
            "Last-Modified": "Tue, 03 Mar 2026 12:00:00 GMT",
        },
    )
    await run(ctx, blog.url("/atom.xml"))
    [outcome] = await run(ctx, blog.url("/atom.xml"))
    assert outcome.status == "unchanged" and "304" in outcome.detail
    sent = blog.requests[-1][1]
    assert sent.get("If-None-Match") == '"v1"'
    assert sent.get("If-Modified-Since") == "Tue, 03 Mar 2026 12:00:00 GMT"


async def test_validators_are_not_kept_when_an_entry_failed(ctx: IngestContext, blog: Blog) -> None:
    """A feed with a failed entry is fetched in full next time, so nothing is lost."""
    blog.routes["/rss2.xml"] = Route(
        body=RSS.encode(), headers={"Content-Type": "application/xml", "ETag": '"r1"'}
    )
    await run(ctx, blog.url("/rss2.xml"))
    await run(ctx, blog.url("/rss2.xml"))
    assert "If-None-Match" not in blog.requests[-1][1]


async def test_server_error_and_invalid_xml_fail_with_one_clear_line(
    ctx: IngestContext, blog: Blog
) -> None:
    """HTTP 500, invalid XML and an unreachable host each give one failed line."""
    blog.routes["/500.xml"] = Route(status=500, body=b"oops")
    blog.routes["/bad.xml"] = Route(
        body=b"<?xml version='1.0'?><rss><channel><item>",
        headers={"Content-Type": "application/rss+xml"},
    )
    outcomes = [
        o
        async for o in ingest(
            [blog.url("/500.xml"), blog.url("/bad.xml"), "http://127.0.0.1:9/feed.xml"], ctx
        )
    ]
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert "HTTP 500" in outcomes[0].detail
    assert "not a valid RSS/Atom feed" in outcomes[1].detail
    assert "cannot fetch" in outcomes[2].detail


async def test_plain_web_page_is_extracted(ctx: IngestContext, blog: Blog) -> None:
    """A page URL: the article text is extracted, navigation dropped, the date read from meta."""
    article = "".join(
        f"<p>第{i}段：算力租赁订单涨价，IDC 方向受益，继续跟踪。</p>" for i in range(8)
    )
    page = f"""<html><head><title>IDC 跟踪 | 投研</title>
    <meta property="article:published_time" content="2026-03-04T21:00:00+08:00"></head>
    <body><nav><a href="/">首页</a><a href="/about">关于</a></nav>
    <article><h1>IDC 跟踪</h1>{article}</article><footer>版权所有</footer></body></html>"""
    blog.routes["/idc-track/"] = Route(body=page.encode(), headers={"Content-Type": "text/html"})
    [outcome] = await run(ctx, blog.url("/idc-track/"))
    assert (outcome.status, outcome.slug) == ("new", "idc-track")
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="idc-track")
    assert post is not None and post.source == "page"
    assert "算力租赁订单涨价" in post.body_text and "版权所有" not in post.body_text
    assert post.published_at.isoformat() == "2026-03-04T13:00:00+00:00"


async def test_real_hexo_feed_decrypts_v3_entries_and_reports_the_one_it_cannot(
    ctx: IngestContext, blog: Blog
) -> None:
    """A feed generated by hexo + hexo-blog-encrypt 3.1.9: ld2602 opens its post, the March
    post fails clearly, and after adding ld2603 the next poll takes it (no 304 in between)."""
    atom = (HBE / "atom.xml").read_bytes()
    blog.routes["/atom.xml"] = Route(
        body=atom, headers={"Content-Type": "application/atom+xml", "ETag": '"a1"'}
    )
    outcomes = {o.slug: o for o in await run(ctx, blog.url("/atom.xml"))}
    assert outcomes["cpo-update"].status == "new"
    assert outcomes["public-weekly"].status == "new"
    assert outcomes["march-strategy"].status == "failed"
    assert outcomes["march-strategy"].detail == (
        "encrypted; none of the known passwords opens it (1 tried)"
    )
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="cpo-update")
        public = await store.get_post_by_slug(session=session, slug="public-weekly")
    assert post is not None and post.gated and post.encrypted
    assert "天孚通信" in post.body_text and "hbe" not in post.body_markdown
    assert post.images == [
        {"alt": "CPO产业链", "url": "https://img.example.com/2026/cpo-chain.webp"}
    ]
    assert post.published_at.isoformat() == "2026-02-12T05:27:29+00:00"
    assert public is not None and not public.gated

    ctx.passwords = ["ld2602", "ld2603"]
    again = {o.slug: o.status for o in await run(ctx, blog.url("/atom.xml"))}
    assert "If-None-Match" not in blog.requests[-1][1]
    assert again == {
        "march-strategy": "new",
        "cpo-update": "unchanged",
        "public-weekly": "unchanged",
    }
    [last] = await run(ctx, blog.url("/atom.xml"))
    assert last.status == "unchanged" and "304" in last.detail


async def test_real_hexo_rss2_feed_gives_the_same_posts(ctx: IngestContext, blog: Blog) -> None:
    """The RSS 2.0 rendering of the same site decrypts to the same slugs."""
    blog.routes["/rss2.xml"] = Route(body=(HBE / "rss2.xml").read_bytes())
    statuses = {o.slug: o.status for o in await run(ctx, blog.url("/rss2.xml"))}
    assert statuses == {"cpo-update": "new", "public-weekly": "new", "march-strategy": "failed"}


async def test_encrypted_page_url_is_decrypted(ctx: IngestContext, blog: Blog) -> None:
    """A page rendered by hexo-blog-encrypt: decrypted with the password, not extracted."""
    page = (HBE / "cpo-update.html").read_bytes()
    blog.routes["/cpo-update/"] = Route(body=page, headers={"Content-Type": "text/html"})
    [outcome] = await run(ctx, blog.url("/cpo-update/"))
    assert (outcome.status, outcome.slug, outcome.detail) == (
        "new",
        "cpo-update",
        "CPO更新与节前风险",  # the site name is not part of the title
    )
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="cpo-update")
    assert post is not None and post.encrypted and "中际旭创" in post.body_text
    ctx.passwords = []
    blog.routes["/other/"] = Route(body=page, headers={"Content-Type": "text/html"})
    [locked] = await run(ctx, blog.url("/other/"))
    assert locked.status == "failed" and "no password is configured" in locked.detail


async def test_v4_feed_and_page_made_by_node_crypto_decrypt(ctx: IngestContext, blog: Blog) -> None:
    """Upstream's v4 format (AES-GCM, per-post salt, 250,000 PBKDF2 rounds) from node's crypto
    opens with the right password; the wrong one fails clearly."""
    blog.routes["/atom.xml"] = Route(body=(V4 / "atom.xml").read_bytes())
    [outcome] = await run(ctx, blog.url("/atom.xml"))
    assert (outcome.status, outcome.slug) == ("new", "cpo-update")
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="cpo-update")
    assert post is not None and post.encrypted
    assert "CPI周五公布" in post.body_text and "天孚通信" in post.body_text
    ctx.passwords = ["ld2603"]
    blog.routes["/v4-page/"] = Route(body=(V4 / "cpo-update.html").read_bytes())
    [locked] = await run(ctx, blog.url("/v4-page/"))
    assert locked.status == "failed" and "none of the known passwords" in locked.detail


async def test_an_entry_dated_out_of_range_fails_alone(ctx: IngestContext, blog: Blog) -> None:
    """An Atom entry dated year 1 gets a failed line with a sentence; the feed's other entry
    lands."""
    odd = ATOM.replace(
        "</feed>",
        "<entry><title>古</title><id>urn:uuid:1</id><link href='https://blog.example.com/old/'/>"
        "<published>0001-01-01T00:00:00Z</published><content type='html'>x</content></entry>"
        "</feed>",
    )
    blog.routes["/atom.xml"] = Route(body=odd.encode(), headers={"Content-Type": "text/xml"})
    outcomes = await run(ctx, blog.url("/atom.xml"))
    assert [(o.status, o.slug) for o in outcomes] == [
        ("failed", "old"),
        ("new", "tuesday-review"),
    ]
    assert "entry date" in outcomes[0].detail and "out of range" in outcomes[0].detail
