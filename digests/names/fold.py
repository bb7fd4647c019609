"""The folded view names are matched in: NFKC, casefolded, whitespace removed, and for each folded
character the offset of the original character it came from.

Posts write the same name many ways (`京东方Ａ`, `万 科A`, `NVIDIA`/`Nvidia`); folding both the
dictionary's forms and the post the same way makes them meet, and the offsets let a match be
reported where the caller's text has it.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

_NOT_SPACE = re.compile(r"\S+")
_CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])")


class _FoldTable(dict[int, str]):
    """`str.translate` table: a character to its NFKC form, casefolded; filled on first sight.

    Folding one character at a time keeps each output character traceable to its input, and the
    table makes a post's folding one C-level pass once its characters have been seen.
    """

    def __missing__(self, code: int) -> str:
        folded = unicodedata.normalize("NFKC", chr(code)).casefold()
        self[code] = folded
        return folded


_TABLE = _FoldTable()


def fold_char(char: str) -> str:
    """One character folded (possibly several characters, or none meaningful: `ﬁ` → `fi`)."""
    return _TABLE[ord(char)]


def fold(text: str) -> str:
    """`text` folded: NFKC, casefolded, without whitespace (a name, a form or a query)."""
    return "".join(text.translate(_TABLE).split())


def written(text: str) -> str:
    """`text` as the snapshot writes a form: NFKC, without whitespace, case kept."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def listed(name: str) -> str:
    """A name as the snapshot lists it: NFKC and trimmed; spaces go where a Chinese character
    is beside them (`万  科Ａ` → `万科A`) and stay single between Latin words."""
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    return _CJK_SPACE.sub("", name)


class Folded:
    """A text's folded view and the way back to the text's own offsets."""

    __slots__ = ("_fstarts", "_index", "_ostarts", "original", "text")

    def __init__(self, original: str) -> None:
        self.original = original
        translated = original.translate(_TABLE)
        self._index: list[int] | None = None
        if len(translated) == len(original):
            # The common case (full-width punctuation, CJK, ASCII): one character in, one out,
            # so runs of non-space characters map back by their starting offsets alone.
            runs = [(m.start(), m.group()) for m in _NOT_SPACE.finditer(translated)]
            self._ostarts = [start for start, _ in runs]
            self._fstarts = []
            at = 0
            for _, run in runs:
                self._fstarts.append(at)
                at += len(run)
            self.text = "".join(run for _, run in runs)
            return
        # A character folded to several (`ﬁ`, `㈱`, `ß`): keep one original offset per output.
        chars: list[str] = []
        index: list[int] = []
        for position, char in enumerate(original):
            for out in _TABLE[ord(char)]:
                if not out.isspace():
                    chars.append(out)
                    index.append(position)
        self._index = index
        self._ostarts = self._fstarts = []
        self.text = "".join(chars)

    def offset(self, folded_at: int) -> int:
        """The original offset of the folded character at `folded_at`."""
        if self._index is not None:
            return self._index[folded_at]
        run = bisect_right(self._fstarts, folded_at) - 1
        return self._ostarts[run] + folded_at - self._fstarts[run]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the folded span [start, end) (end > start)."""
        return self.offset(start), self.offset(end - 1) + 1
