"""/d/{token}: a digest as a server-rendered, mobile-friendly page, linked from WeChat messages.

The token (digests/readers/pagelinks.py) names the subscriber and the publication; the subscriber's
entitlement is checked again on every visit, so a stopped reader or a lapsed grant loses the
page even while the link is unexpired. Anyone refused sees a polite page and no content.
"""

from __future__ import annotations

import logging
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from digests import fingerprint, render, replies
from digests.errors import DigestbotError
from digests.models import Publication, Subscriber, utcnow
from digests.readers import reading
from digests.readers.pagelinks import open_token, page_secret
from digests.readership import actions
from digests.render import Line

log = logging.getLogger(__name__)
PAGE = fingerprint.Medium.PAGE

REFUSED = "链接已失效或不属于你。请在公众号里回复「最新」获取新的链接。"
EXPIRED = "链接已过期（有效期 7 天）。请在公众号里回复「最新」获取新的链接。"
HEADERS = {
    "Cache-Control": "private, no-store",  # per-reader content: no shared or disk caches
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",  # the token must not leak to another site
    "X-Content-Type-Options": "nosniff",
    # inline styles only; no scripts, images, frames or forms
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}
_CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#59636e;--accent:#c2410c;
--line:#e5e7eb}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#111418;--muted:#9aa4af;
--accent:#fb923c;--line:#2d333b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);-webkit-text-size-adjust:100%;
font:17px/1.75 -apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB",
"Microsoft YaHei","Noto Sans CJK SC","Helvetica Neue",Arial,sans-serif}
main{max-width:680px;margin:0 auto;padding:24px 18px 48px;overflow-wrap:anywhere}
h1{font-size:1.45em;line-height:1.4;margin:0 0 .6em}
h2{font-size:1.12em;line-height:1.5;margin:1.6em 0 .4em;padding-bottom:.25em;
border-bottom:1px solid var(--line)}
ul{margin:.3em 0;padding-left:1.25em}
li{margin:.3em 0}
p{margin:.6em 0}
.headline{font-weight:600;border-left:4px solid var(--accent);padding-left:.75em}
.stocks{color:var(--muted)}
.stocks b{color:var(--fg);font-weight:600}
.note{color:var(--muted);font-size:.88em}
.disclaimer{margin-top:2em;padding-top:.8em;border-top:1px solid var(--line)}
details summary{cursor:pointer;list-style:none}
details summary::-webkit-details-marker{display:none}
details summary::after{content:" 原文";color:var(--muted);font-size:.78em}
details[open] summary::after{content:""}
.source{margin:.3em 0 .6em;padding:.1em .8em;border-left:3px solid var(--line);
color:var(--muted);font-size:.92em}
.source p{margin:.2em 0}
.wm{position:fixed;inset:-40%;z-index:9;pointer-events:none;user-select:none;
-webkit-user-select:none;display:flex;flex-wrap:wrap;gap:70px 90px;align-content:center;
justify-content:center;overflow:hidden;transform:rotate(-24deg);opacity:.07;font-size:15px;
color:var(--fg)}
@media print{.wm{position:absolute}}
"""
# How each layout line kind becomes HTML; points and items are list items, grouped below.
_BLOCKS = {
    "title": "<h1>{}</h1>",
    "headline": '<p class="headline">{}</p>',
    "summary": '<p class="summary">{}</p>',
    "section": "<h2>{}</h2>",
    "heading": "<h2>{}</h2>",
    "stocks": '<p class="stocks"><b>标的：</b>{}</p>',
    "note": '<p class="note">{}</p>',
}
_LIST_KINDS = {"point", "item"}


async def digest_page(request: Request) -> HTMLResponse:
    """The digest for the subscriber the token names, if that subscriber may read it now."""
    services = request.app.state.services
    try:
        secret = page_secret(services.settings)
    except DigestbotError as exc:  # no secret: no link can have been issued
        log.warning("digest page refused: %s", exc)
        return refusal(403)
    link = open_token(secret, request.path_params["token"])
    if link is None:
        log.info("digest page refused: unsigned or malformed token")  # never the token
        return refusal(403)
    if link.expired(utcnow()):
        return refusal(410)
    store = services.store_context()
    async with store.sessions() as session:
        subscriber = await session.get(Subscriber, link.subscriber_id)
        publication = await session.get(Publication, link.publication_id)
        if subscriber is None or publication is None:
            return refusal(403)
        post, shown = await replies.view(session, publication, store)
        if not await reading.is_entitled(session, subscriber, post, publication):
            log.info("digest page refused: subscriber %s not entitled", subscriber.id)
            return refusal(403)
    # an open through the link, for the readership figures (unique readers per publication)
    await actions.record(
        store,
        subscriber_id=link.subscriber_id,
        publication_id=link.publication_id,
        kind=actions.PAGE_OPEN,
    )
    lines = render.layout(
        shown.digest,
        title=shown.title,
        extractive=shown.extractive,
        disclaimer=shown.disclaimer,
    )
    key = fingerprint.key(services.settings.fingerprint_material())
    mark = fingerprint.mark_for(
        key, subscriber.channel, subscriber.external_id, link.publication_id, PAGE
    )
    return HTMLResponse(html_page(lines, mark), headers=HEADERS)


def refusal(status: int) -> HTMLResponse:
    """The polite page for strangers (403) and stale links (410): same layout, no content."""
    text = EXPIRED if status == 410 else REFUSED
    body = f"<h1>无法打开这篇摘要</h1>\n<p>{escape(text)}</p>"
    return HTMLResponse(_document("无法打开这篇摘要", body), status_code=status, headers=HEADERS)


def html_page(lines: list[Line], mark: fingerprint.Mark | None = None) -> str:
    """A whole HTML5 document from render.layout() lines; every text is escaped. With a
    reader's `mark`, each block carries a chunk of it and the page a faint watermark with the
    reader's short id (fingerprint.short_id)."""
    title = next((line.text for line in lines if line.kind == "title"), "投研摘要")
    parts: list[str] = [] if mark is None else [watermark(fingerprint.short_id(mark.tag))]
    in_list = False
    for number, line in enumerate(lines):
        if (line.kind in _LIST_KINDS) != in_list:  # open or close a run of list items
            parts.append("<ul>" if not in_list else "</ul>")
            in_list = not in_list
        template = "<li>{}</li>" if in_list else _BLOCKS.get(line.kind, "<p>{}</p>")
        if line.kind == "note" and line is lines[-1]:  # the disclaimer closes the page
            template = '<p class="note disclaimer">{}</p>'
        text = line.text
        if mark is not None:  # the chunk cycle runs on from block to block
            text = fingerprint.stamp(fingerprint.template(text, last_line=True), mark, first=number)
        parts.append(template.format(_with_sources(escape(text), line.sources)))
    if in_list:
        parts.append("</ul>")
    return _document(title, "\n".join(parts))


def _with_sources(text: str, sources: tuple[str, ...]) -> str:
    """A point with the post's sentences it cites shown on a tap (no script: <details>)."""
    if not sources:
        return text
    quoted = "".join(f"<p>{escape(source)}</p>" for source in sources)
    source = f'<blockquote class="source">{quoted}</blockquote>'
    return f"<details><summary>{text}</summary>{source}</details>"


def watermark(short_id: str) -> str:
    """The faint, unselectable watermark over the page: the reader's short id, repeated."""
    label = escape(f"读者 {short_id}")
    spans = "".join(f"<span>{label}</span>" for _ in range(24))
    return f'<div class="wm" aria-hidden="true">{spans}</div>'


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="robots" content="noindex">\n<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
