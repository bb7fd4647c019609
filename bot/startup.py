"""What `digestbot run` starts, read from the settings once: one line naming the channels on
and off and why, and a sentence for each channel configured only in part.

A channel is off when none of its settings is given, and on when all it needs are given;
anything in between is a configuration error (exit status 2 at start), because a channel
half set up fails later, on a reader's message, where nobody sees why.
"""

from __future__ import annotations

from dataclasses import dataclass

from digests.settings import Settings

WECHAT_NEEDS = ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TOKEN")


@dataclass(frozen=True)
class ChannelReport:
    """`line` for the operator; `problems`, one sentence per half-configured channel."""

    line: str
    problems: tuple[str, ...]


def channel_report(settings: Settings) -> ChannelReport:
    """Which channels the settings turn on, which off and why, and what is missing."""
    states, problems = [], []
    for state, problem in (_telegram(settings), _wechat(settings), _wecom(settings)):
        states.append(state)
        if problem:
            problems.append(problem)
    return ChannelReport("channels: " + "; ".join(states), tuple(problems))


def _telegram(s: Settings) -> tuple[str, str]:
    if s.telegram_bot_token is not None:
        return f"telegram on ({'webhook' if s.telegram_webhook_url else 'polling'})", ""
    given = _given(
        {
            "TELEGRAM_WEBHOOK_URL": s.telegram_webhook_url,
            "TELEGRAM_WEBHOOK_SECRET": s.telegram_webhook_secret,
            "TELEGRAM_ADMIN_IDS": s.telegram_admin_ids,
        }
    )
    if given:
        return "telegram off", (
            f"Telegram is half-configured: {' and '.join(given)} {_is_are(given)} set but "
            "TELEGRAM_BOT_TOKEN is not; set the token, or empty those to run without Telegram."
        )
    return "telegram off (TELEGRAM_BOT_TOKEN unset)", ""


def _wechat(s: Settings) -> tuple[str, str]:
    values = {
        "WECHAT_APP_ID": s.wechat_app_id,
        "WECHAT_APP_SECRET": s.wechat_app_secret,
        "WECHAT_TOKEN": s.wechat_token,
    }
    missing = [name for name in WECHAT_NEEDS if not values[name]]
    extras = _given(
        {
            "WECHAT_ENCODING_AES_KEY": s.wechat_encoding_aes_key,
            "WECHAT_ADMIN_OPENIDS": s.wechat_admin_openids,
        }
    )
    if not missing:
        mode = "safe mode" if s.wechat_encoding_aes_key else "plain mode"
        return f"wechat on ({mode}, {s.wechat_delivery})", ""
    if len(missing) == len(WECHAT_NEEDS) and not extras:
        return "wechat off (WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN unset)", ""
    return "wechat off", (
        f"WeChat is half-configured: {' and '.join(missing)} {_is_are(missing)} not set; "
        f"WeChat needs {', '.join(WECHAT_NEEDS)}, or none of the WECHAT_ settings to run "
        "without it."
    )


def _wecom(s: Settings) -> tuple[str, str]:
    robots = len(s.wecom_webhook_urls)
    if robots:
        return f"wecom on ({robots} robot{'s' if robots > 1 else ''})", ""
    return "wecom off (WECOM_WEBHOOK_URLS unset)", ""


def _given(values: dict[str, object]) -> list[str]:
    return [name for name, value in values.items() if value]


def _is_are(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"
