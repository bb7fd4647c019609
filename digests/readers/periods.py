"""The admin's access periods: a month's (or any period's) password added as a scrypt hash,
removed, and listed with how many readers hold each, never the passwords themselves. Readers
unlock with them in passwords.py; the hashing rules are access.py's."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from digests.models import AccessGrant, AccessPassword
from digests.readers import access, shapes
from digests.replies import OWN_ARGS, Reply, StoreContext, command


async def add_password(
    ctx: StoreContext, password: str, valid_from: date, valid_until: date, label: str = ""
) -> Reply:
    """/password_add: store a period's password as a scrypt hash under the shared salt (see
    digests/readers/access.py); a reversed or out-of-range period is refused with a sentence."""
    try:
        starts, ends = access.period_bounds(valid_from, valid_until, ctx.tz)
    except ValueError as exc:
        return Reply(f"没有添加：{exc}")
    label = label or f"{valid_from:%Y-%m}"
    async with ctx.sessions() as session:
        order = (col(AccessPassword.starts_at).desc(), col(AccessPassword.id).desc())
        stored = (await session.exec(select(AccessPassword.password_hash).order_by(*order))).all()
    hashed = await access.off_loop(access.hash_password, password, list(stored))
    try:
        async with ctx.sessions() as session, session.begin():
            session.add(
                AccessPassword(
                    label=label,
                    password_hash=hashed,
                    shape=shapes.shape(password),
                    starts_at=starts,
                    ends_at=ends,
                )
            )
    except IntegrityError:
        return Reply(f"会员期 {label} 已存在；先 {command('password_remove', label)}。")
    return Reply(f"已添加会员期 {label}（{ctx.period(starts, ends)}）。")


async def remove_password(ctx: StoreContext, label: str) -> Reply:
    """/password_remove: no new unlocks with it; grants already given stay."""
    async with ctx.sessions() as session, session.begin():
        found = (
            await session.exec(select(AccessPassword).where(AccessPassword.label == label))
        ).first()
        if found is None:
            return Reply(f"没有会员期 {label}。")
        await session.delete(found)
    return Reply(f"已删除会员期 {label} 的密码；已解锁的订阅者保留该会员期。")


async def list_passwords(ctx: StoreContext) -> Reply:
    """/passwords: periods and how many hold each; never the passwords."""
    async with ctx.sessions() as session:
        periods = (
            await session.exec(select(AccessPassword).order_by(col(AccessPassword.starts_at)))
        ).all()
        holders = dict(
            (
                await session.exec(
                    select(AccessGrant.label, func.count()).group_by(AccessGrant.label)
                )
            ).all()
        )
    period = ctx.period
    lines = [
        f"{p.label}：{period(p.starts_at, p.ends_at)}，已解锁 {holders.get(p.label, 0)} 人"
        for p in periods
    ]
    return Reply(
        "\n".join(lines) or f"还没有会员期密码；用 {command('password_add', OWN_ARGS)} 添加。"
    )
