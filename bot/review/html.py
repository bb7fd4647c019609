"""The review page: every line of the digest as a field, beside the post's sentences it cites;
what the gate dropped, with its reason and a box to restore it; the revisions. Plain HTML
forms, no script: the CSP allows inline style and posting to this site only. Every text is
escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from bot.review.form import present, said
from digests.models import DigestRevision
from digests.review.check import PostText
from digests.summarize.schema import Claim, Digest

_KINDS = {
    "headline": "核心观点",
    "summary": "概述",
    "sections": "板块",
    "points": "要点",
    "stocks": "标的",
    "risks": "风险",
    "events": "事件",
}
_CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#59636e;--accent:#c2410c;
--line:#d0d7de;--warn:#9a6700;--bad:#cf222e;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#111418;--muted:#9aa4af;
--accent:#fb923c;--line:#2d333b;--warn:#d29922;--bad:#f85149;--ok:#3fb950}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.6 -apple-system,
BlinkMacSystemFont,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif}
main{max-width:1100px;margin:0 auto;padding:16px 14px 48px;overflow-wrap:anywhere}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.08em;margin:1.4em 0 .4em;
border-bottom:1px solid var(--line)}
.meta,.why,.src{color:var(--muted);font-size:.9em}
.row{display:grid;grid-template-columns:1fr;gap:4px 16px;padding:8px 0;
border-bottom:1px dashed var(--line)}
@media (min-width:760px){.row{grid-template-columns:1fr 1fr}}
textarea,input[type=text],select{width:100%;font:inherit;color:inherit;background:transparent;
border:1px solid var(--line);border-radius:6px;padding:6px}
textarea{min-height:3.2em;resize:vertical}
input.cites{width:7em}
.src p{margin:.1em 0;padding-left:.6em;border-left:3px solid var(--line)}
.warn{color:var(--warn)}.bad{color:var(--bad)}.ok{color:var(--ok)}
.notice{padding:8px 12px;border:1px solid var(--line);border-radius:6px;margin:.6em 0}
fieldset{border:1px solid var(--line);border-radius:8px;margin:.8em 0}
.stock{display:flex;gap:8px;align-items:center}.stock span{min-width:6em}
.actions{position:sticky;bottom:0;background:var(--bg);padding:10px 0;display:flex;gap:10px}
button{font:inherit;padding:8px 18px;border-radius:6px;border:1px solid var(--line);
background:var(--accent);color:#fff}
button.plain{background:transparent;color:var(--fg)}
"""


def page(
    *,
    review: Any,
    digest: Digest,
    token: str,
    csrf: str,
    base: int,
    notice: str = "",
    problems: list[str] | None = None,
    warnings: list[dict[str, str]] | None = None,
) -> str:
    """The whole page for `digest` (the current revision, or the author's refused edit)."""
    post, text = review.post, review.text
    warned = {w["text"]: w["why"] for w in warnings or []}
    parts = [
        f"<h1>审阅：{escape(post.title)}</h1>",
        f'<p class="meta">摘要第 {review.row.current_revision} 版'
        f"{'（已人工修改）' if review.row.edited else ''} · 原文共 {len(text.doc)} 句 · "
        "链接 15 分钟内有效</p>",
    ]
    if notice:
        parts.append(f'<div class="notice ok" role="status">{escape(notice)}</div>')
    if problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problems)
        parts.append(f'<div class="notice bad" role="alert">没有保存：<ul>{items}</ul></div>')
    if warnings:
        items = "".join(
            f"<li>{escape(w['where'])}「{escape(w['text'])}」：{escape(w['why'])}</li>"
            for w in warnings
        )
        parts.append(
            '<div class="notice warn">闸门的意见（仅提示，已按你的修改保存）：'
            f"<ul>{items}</ul></div>"
        )
    form = [
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">',
        f'<input type="hidden" name="base" value="{base}">',
        *_counts(digest),
        "<h2>核心观点</h2>",
        _row(_area("headline", digest.headline), ""),
        "<h2>概述</h2>",
        *(_claim(f"summary.{i}", c, text, warned) for i, c in enumerate(digest.summary)),
        _row(_area("summary.new", "", "新增一句概述"), ""),
        "<h2>板块</h2>",
    ]
    names = [s.name for s in digest.sections]
    for s, section in enumerate(digest.sections):
        form.append(
            f"<fieldset><legend>板块 {s + 1}</legend>"
            + _row(
                _input(f"section.{s}.name", section.name)
                + _box(f"section.{s}.delete", "删除整个板块"),
                _sources(_naming(text, section.stocks)),
            )
        )
        form += [
            _claim(f"section.{s}.point.{p}", c, text, warned) for p, c in enumerate(section.points)
        ]
        form.append(_row(_area(f"section.{s}.point.new", "", "新增要点"), ""))
        for k, stock in enumerate(section.stocks):
            note = (
                f' <span class="warn">⚠ {escape(warned[stock])}</span>' if stock in warned else ""
            )
            form.append(
                f'<div class="stock"><span>标的 {escape(stock)}{note}</span>'
                + f'<input type="hidden" name="section.{s}.stock.{k}.name" value="{escape(stock)}">'
                + _select(f"section.{s}.stock.{k}", names, s, deletable=True)
                + "</div>"
            )
        form.append(_input(f"section.{s}.stocks.new", "", "新增标的（用、分隔）") + "</fieldset>")
    form.append(_row(_input("section.new", "", "新增板块名称"), ""))
    form.append("<h2>风险</h2>")
    form += [_claim(f"risk.{i}", c, text, warned) for i, c in enumerate(digest.risks)]
    form.append(_row(_area("risk.new", "", "新增风险"), ""))
    form.append("<h2>事件</h2>")
    for i, event in enumerate(digest.events):
        label = f"{event.title} {event.when}"
        note = _warning(warned.get(label, ""))
        form.append(
            _row(
                _input(f"event.{i}.title", event.title)
                + _input(f"event.{i}.when", event.when, "时间（原文的说法）")
                + _box(f"event.{i}.delete", "删除")
                + note,
                _sources(_mentioning(text, event.when)),
            )
        )
    form.append(
        _row(_input("event.new.title", "", "新增事件") + _input("event.new.when", "", "时间"), "")
    )
    form += _dropped(review.dropped, present(digest), names)
    form.append(
        '<div class="actions"><button name="then" value="save">保存</button>'
        '<button name="then" value="publish">保存并发布</button></div>'
    )
    parts.append(f'<form method="post" action="/review/{escape(token)}">{"".join(form)}</form>')
    parts.append(
        f'<form method="post" action="/review/{escape(token)}/publish">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="base" value="{review.row.current_revision}">'
        f'<button class="plain">发布第 {review.row.current_revision} 版'
        "（不保存上面的改动）</button>"
        "</form>"
    )
    parts += _history(review.revisions)
    return document(post.title, "\n".join(parts))


def _claim(name: str, claim: Claim, text: PostText, warned: dict[str, str]) -> str:
    cites = ",".join(str(n) for n in claim.cites)
    note = (
        f'<p class="warn">⚠ 闸门：{escape(warned[claim.text])}</p>' if claim.text in warned else ""
    )
    edit = (
        _area(f"{name}.text", claim.text)
        + f'<label>引用 <input type="text" class="cites" name="{name}.cites" '
        f'value="{escape(cites)}"></label> ' + _box(f"{name}.delete", "删除") + note
    )
    cited = [(n, s.text) for n in claim.cites if (s := text.doc.sentence(n)) is not None]
    return _row(edit, _sources(cited))


def _warning(why: str, tag: str = "p") -> str:
    """The gate's opinion of a line, beside it."""
    return f'<{tag} class="warn">⚠ 闸门：{escape(why)}</{tag}>' if why else ""


def _sources(cited: list[tuple[int, str]]) -> str:
    if not cited:
        return '<div class="src">（未引用原文）</div>'
    quoted = "".join(f"<p>[{n}] {escape(t)}</p>" for n, t in cited)
    return f'<div class="src">{quoted}</div>'


def _naming(text: PostText, stocks: list[str]) -> list[tuple[int, str]]:
    """The post's sentences that name any of a section's stocks (the first three)."""
    found = [(s.number, s.text) for s in text.doc.sentences if any(n in s.text for n in stocks)]
    return found[:3]


def _mentioning(text: PostText, when: str) -> list[tuple[int, str]]:
    """The post's sentences that say an event's date as the digest writes it."""
    return [(s.number, s.text) for s in text.doc.sentences if when and when in s.text][:3]


def _counts(digest: Digest) -> list[str]:
    """The shape of the digest shown, for form.read."""
    counts = {
        "summary": len(digest.summary),
        "sections": len(digest.sections),
        "risks": len(digest.risks),
        "events": len(digest.events),
    }
    for s, section in enumerate(digest.sections):
        counts[f"section.{s}.points"] = len(section.points)
        counts[f"section.{s}.stocks"] = len(section.stocks)
    return [f'<input type="hidden" name="count.{k}" value="{v}">' for k, v in counts.items()]


def _dropped(dropped: dict[str, Any], there: set[str], names: list[str]) -> list[str]:
    """The gate's record, by its stored indexes, less what the digest shown holds again."""
    out = ["<h2>闸门删去的内容</h2>"]
    for kind, label in _KINDS.items():
        for i, item in enumerate(dropped.get(kind) or []):
            if said(item) in there:
                continue
            why = "" if isinstance(item, str) else str(item.get("why", ""))
            to = _select(f"restore.{kind}.{i}.to", names, 0) if kind in ("points", "stocks") else ""
            out.append(
                _row(
                    f"<b>{label}</b> {escape(said(item))}"
                    + f'<p class="why">闸门：{escape(why or "不成立")}</p>',
                    _box(f"restore.{kind}.{i}", "恢复") + to,
                )
            )
    if len(out) == 1:
        out.append('<p class="meta">没有。</p>')
    return out


def _history(revisions: list[DigestRevision]) -> list[str]:
    out = ["<h2>版本记录</h2><ul>"]
    for revision in revisions:
        who = revision.author or "模型"
        when = revision.created_at.strftime("%Y-%m-%d %H:%M UTC")
        changes = "；".join(revision.changes) or "生成"
        out.append(f"<li>第 {revision.number} 版 · {escape(who)} · {when}：{escape(changes)}</li>")
    return [*out, "</ul>"]


def _row(left: str, right: str) -> str:
    return f'<div class="row"><div>{left}</div>{right and f"<div>{right}</div>"}</div>'


def _area(name: str, value: str, placeholder: str = "") -> str:
    hint = f' placeholder="{escape(placeholder)}"' if placeholder else ""
    return f'<textarea name="{name}"{hint}>{escape(value)}</textarea>'


def _input(name: str, value: str, placeholder: str = "") -> str:
    hint = f' placeholder="{escape(placeholder)}"' if placeholder else ""
    return f'<input type="text" name="{name}" value="{escape(value)}"{hint}>'


def _box(name: str, label: str) -> str:
    return f'<label><input type="checkbox" name="{name}" value="1"> {escape(label)}</label>'


def _select(name: str, sections: list[str], chosen: int, *, deletable: bool = False) -> str:
    options = [
        f'<option value="{i}"{" selected" if i == chosen else ""}>放在「{escape(n)}」</option>'
        for i, n in enumerate(sections)
    ]
    if deletable:
        options.append('<option value="delete">删除</option>')
    return f'<select name="{name}">{"".join(options)}</select>'


def document(title: str, body: str) -> str:
    """A whole HTML5 page."""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n<meta name="referrer" content="no-referrer">\n'
        f"<title>审阅：{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
