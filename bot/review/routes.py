"""/review/{token}: GET shows the page; POST saves the form as the digest's next revision
(then, with `then=publish`, publishes it); POST /review/{token}/publish publishes the revision
the page showed. Every request is checked (bot/review/access.py), every POST carries the
page's CSRF token. An edit that cannot be saved (a line the schema refuses, a revision saved
by someone else meanwhile) comes back on the page as the author left it, with the reason."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot import pages, web
from bot.review import access, form, html
from digests.errors import DigestbotError, NotFound, StaleRevision
from digests.publishing import publish as publishing
from digests.review import edit, links
from digests.review.edit import Refused, Review

log = logging.getLogger(__name__)
HEADERS = {
    **pages.HEADERS,
    # no script, no images: inline style, and forms that post to this site only
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}
MAX_FORM_BYTES = 256 * 1024  # a digest's form is a few KB
MAX_FIELDS = 2000
_REFUSED = {
    403: "这个审阅链接无效，或你已不是管理员。",
    410: "审阅链接已过期（15 分钟）。请在预览消息里重新获取。",
    413: "提交的内容太大。",
}


async def show(request: Request) -> Response:
    """The page for the link's admin, with the current revision's warnings."""
    try:
        admitted = _admit(request)
        review = await _open(request, admitted)
    except access.Refused as refused:
        return refusal(refused.status)
    notice = "已保存。" if request.query_params.get("saved") else ""
    return _page(admitted, review, notice=notice)


async def save(request: Request) -> Response:
    """The form as the next revision; re-shown with the reasons when it cannot be."""
    try:
        admitted = _admit(request)
        fields = await _posted(request, admitted)
        review = await _open(request, admitted)
    except access.Refused as refused:
        return refusal(refused.status)
    base = _int(fields.get("base"))
    edited = form.read(fields, review.digest, review.dropped)
    if edited.problems:
        return _page(admitted, review, edited.digest, base=base, problems=edited.problems)
    ctx = request.app.state.services.digest_context()
    try:
        outcome = await edit.submit(
            ctx,
            review,
            edited.digest,
            base=base,
            author=admitted.link.admin,
            dropped=edited.dropped,
            restored=edited.restored,
        )
    except StaleRevision as stale:
        return _stale(admitted, review, edited.digest, stale)
    if isinstance(outcome, Refused) and outcome.unchanged:
        return _page(admitted, review, notice=edit.UNCHANGED)
    if isinstance(outcome, Refused):
        return _page(admitted, review, edited.digest, base=base, problems=outcome.problems)
    log.info("review: %s saved revision %d of digest %d", admitted.link.admin, outcome.number,
             outcome.digest_id)  # fmt: skip
    if fields.get("then") == "publish":
        return await _publish(request, admitted, outcome.number)
    return RedirectResponse(f"/review/{admitted.token}?saved={outcome.number}", status_code=303)


async def publish(request: Request) -> Response:
    """Publish the revision the page showed (refused if another has been saved since)."""
    try:
        admitted = _admit(request)
        fields = await _posted(request, admitted)
    except access.Refused as refused:
        return refusal(refused.status)
    return await _publish(request, admitted, _int(fields.get("base")))


async def _publish(request: Request, admitted: access.Admitted, revision: int) -> Response:
    review = await _open(request, admitted)
    if review.row.current_revision != revision:
        problem = (
            f"没有发布：页面显示的是第 {revision} 版，之后已保存了第 "
            f"{review.row.current_revision} 版。请看过下面的最新版本再发布。"
        )
        return _page(admitted, review, problems=[problem], status=409)
    actx = request.app.state.services.admin_context()
    again = await edit.published_before(actx.digests, review.row)  # a fix of a sent text
    reply = await publishing.publish_post(
        actx, review.post.slug, by=admitted.link.admin, again=again
    )
    return _page(admitted, await _open(request, admitted), notice=reply.text)


def _stale(admitted: access.Admitted, review: Review, mine: Any, stale: StaleRevision) -> Response:
    """Someone saved since the page was loaded: their changes are named, the author's edit is
    shown as they left it, and saving it now would knowingly replace theirs."""
    theirs = [r for r in review.revisions if r.number > stale.base]
    said = "；".join(f"第 {r.number} 版（{r.author}）：{'；'.join(r.changes)}" for r in theirs)
    problem = (
        f"没有保存：你是在第 {stale.base} 版上修改的，其间已保存了第 {stale.current} 版"
        f"（{said}）。你的修改仍在下面；再按保存会以它替换第 {stale.current} 版。"
    )
    return _page(admitted, review, mine, base=stale.current, problems=[problem], status=409)


def _page(
    admitted: access.Admitted,
    review: Review,
    digest: Any = None,
    *,
    base: int | None = None,
    notice: str = "",
    problems: list[str] | None = None,
    status: int | None = None,
) -> HTMLResponse:
    """The page: `digest` is the author's edit when it was not saved, else the current one."""
    current = review.revisions[0] if review.revisions else None
    warnings = (
        current.warnings
        if digest is None and current is not None and current.number == review.row.current_revision
        else []
    )
    body = html.page(
        review=review,
        digest=review.digest if digest is None else digest,
        token=admitted.token,
        csrf=links.csrf_token(admitted.secret, admitted.token),
        base=review.row.current_revision if base is None else base,
        notice=notice,
        problems=problems,
        warnings=warnings,
    )
    code = status if status is not None else (422 if problems else 200)
    return HTMLResponse(body, status_code=code, headers=HEADERS)


def _admit(request: Request) -> access.Admitted:
    settings = request.app.state.services.settings
    try:
        return access.admit(settings, request.path_params["token"])
    except DigestbotError as exc:  # no secret: no link was ever issued
        log.warning("review page refused: %s", exc)
        raise access.Refused(403) from exc


async def _posted(request: Request, admitted: access.Admitted) -> Mapping[str, str]:
    """The form, if it carries this page's CSRF token. Read with the standard library: the
    page posts urlencoded forms only (Starlette's parser would need python-multipart)."""
    body = await web.read_at_most(request, MAX_FORM_BYTES)
    if body is None:
        raise access.Refused(413)
    try:
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=MAX_FIELDS))
    except ValueError:  # more fields than any digest has
        raise access.Refused(413) from None
    if not links.csrf_ok(admitted.secret, admitted.token, fields.get("csrf", "")):
        log.warning("review: a POST without the page's CSRF token for %s", admitted.link.admin)
        raise access.Refused(403)
    return fields


async def _open(request: Request, admitted: access.Admitted) -> Review:
    try:
        return await edit.open_review(
            request.app.state.services.digest_context(), admitted.link.post_id
        )
    except NotFound as exc:
        raise access.Refused(404) from exc


def _int(value: object) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else -1


def refusal(status: int) -> HTMLResponse:
    """No content, a sentence why."""
    text = _REFUSED.get(status, "这篇文章或它的摘要已不存在。")
    body = f"<h1>无法打开审阅页</h1>\n<p>{escape(text)}</p>"
    return HTMLResponse(html.document("无法打开", body), status_code=status, headers=HEADERS)
