"""The readership chart: a PNG of the last weeks' readers, unlocked readers, and new and stopped
readers per week, drawn with matplotlib (Agg, no display) at a fixed size.

Labels are Chinese, so a CJK font is needed. We look for one among the fonts the machine has
(Noto Sans/Serif CJK from Debian's fonts-noto-cjk, Source Han, WenQuanYi, Droid Sans Fallback,
AR PL, and the usual macOS/Windows ones). A machine without any still gets a valid chart of the
same size, with English labels instead of boxes where characters are missing; the log says so
once, and docs/readers.md says to install fonts-noto-cjk.
"""

from __future__ import annotations

import io
import logging
import os
from functools import cache

from digests.readership.stats import Week

# matplotlib (and numpy under it) is imported where a chart is drawn, not with this module: it
# is a second of CPU on every start of every process (`digestbot send`, each test worker),
# and most never draw.

log = logging.getLogger(__name__)
WIDTH, HEIGHT, DPI = 900, 500, 100  # pixels of the PNG
_CJK_HINTS = (
    "Noto Sans CJK SC",  # Simplified Chinese glyph forms first
    "Noto Sans CJK",
    "Noto Serif CJK",
    "Noto Sans SC",
    "Source Han",
    "WenQuanYi",
    "Droid Sans Fallback",
    "AR PL",
    "PingFang",
    "Hiragino Sans GB",
    "Microsoft YaHei",
    "SimHei",
    "Heiti",
)
ZH = {
    "title": "读者（近 {n} 周）",
    "readers": "读者",
    "unlocked": "已解锁读者",
    "new": "新增",
    "stopped": "退订",
    "week": "周（周一）",
    "count": "人数",
}
EN = {
    "title": "Readers (last {n} weeks)",
    "readers": "readers",
    "unlocked": "unlocked readers",
    "new": "new",
    "stopped": "stopped",
    "week": "week (Monday)",
    "count": "readers",
}


# font files worth adding when matplotlib's font cache predates them (see cjk_font)
_CJK_FILES = ("cjk", "wqy", "wenquanyi", "droidsansfallback", "sourcehan", "uming", "ukai")


def _known_cjk() -> str | None:
    from matplotlib.font_manager import fontManager

    for hint in _CJK_HINTS:
        for font in fontManager.ttflist:
            if font.name.startswith(hint):
                return str(font.name)
    return None


@cache
def cjk_font() -> str | None:
    """The family name of an installed CJK font, or None (looked up once per process).
    matplotlib caches its font list on first use and never rescans: a font installed later
    (fonts-noto-cjk after the cache was built) is found among the system's font files."""
    from matplotlib.font_manager import findSystemFonts, fontManager

    found = _known_cjk()
    if found is None:
        for path in findSystemFonts():
            if any(mark in os.path.basename(path).lower() for mark in _CJK_FILES):
                fontManager.addfont(path)
        found = _known_cjk()
    if found is not None:
        return found
    log.warning("no CJK font found (install fonts-noto-cjk): the chart's labels are in English")
    return None


def draw(weeks: list[Week], *, font: str | None = None, cjk: bool = True) -> bytes:
    """The chart as PNG bytes, WIDTH × HEIGHT pixels. `font`: a family to use (default: the
    CJK font found, if any); `cjk=False` draws the English labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    family = font or (cjk_font() if cjk else None)
    words = ZH if family else EN
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    # Latin digits from DejaVu if the CJK font lacks them
    families = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    axes = figure.add_subplot()
    labels = [f"{w.start:%m-%d}" for w in weeks]
    x = list(range(len(weeks)))
    axes.bar([i - 0.2 for i in x], [w.new for w in weeks], 0.4, label=words["new"], color="#4c9a2a")
    axes.bar(
        [i + 0.2 for i in x], [-w.stopped for w in weeks], 0.4, label=words["stopped"],
        color="#c2410c",
    )  # fmt: skip
    axes.plot(x, [w.readers for w in weeks], marker="o", label=words["readers"], color="#1f4e9a")
    axes.plot(x, [w.unlocked for w in weeks], marker="s", label=words["unlocked"], color="#b8860b")
    axes.axhline(0, color="#888888", linewidth=0.8)
    axes.set_xticks(x, labels)
    axes.set_xlabel(words["week"], fontfamily=families)
    axes.set_ylabel(words["count"], fontfamily=families)
    axes.set_title(words["title"].format(n=len(weeks)), fontfamily=families)
    axes.legend(loc="upper left", prop={"family": families})
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()  # within the fixed figure: the PNG keeps its size
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
