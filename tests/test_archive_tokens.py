"""The index's tokeniser (digests/index/tokens.py) against the plain statement of what it
does, a character at a time: any text, the same tokens. The fast one skips NFKC for texts that
are normal once Chinese punctuation is blanked, and joins hex codes in C; these tests pin that
neither changes a token, so search results stay what they were."""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.ingest import write_posts
from digests.index.tokens import _CJK, PUNCTUATION, as_text
from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from tests.conftest import EXAMPLES

_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")


def reference(text: str) -> str:
    """The tokens as first written: NFKC and case folding, then a CJK run's overlapping
    bigrams, a lone CJK character, a word (hex-coded unless ASCII), each x + 5 hex digits a
    character."""

    def code(chars: str) -> str:
        return "x" + "".join(f"{ord(c):05x}" for c in chars)

    out: list[str] = []
    for run, word in _RUNS.findall(unicodedata.normalize("NFKC", text).casefold()):
        if word:
            out.append(word if word.isascii() else code(word))
        elif len(run) == 1:
            out.append(code(run))
        else:
            out += [code(run[i : i + 2]) for i in range(len(run) - 1)]
    return " ".join(out)


def _blanked() -> list[str]:
    """Every character the tokeniser turns into a space before NFKC."""
    return [chr(c) for c in range(0x10000) if PUNCTUATION.fullmatch(chr(c))]


def test_blanked_punctuation_is_punctuation_to_nfkc_too() -> None:
    """Each blanked character is, after NFKC, nothing a token is made of, and combines with
    nothing: blanking it first cannot change a token."""
    for char in _blanked():
        normal = unicodedata.normalize("NFKC", char)
        assert not _RUNS.search(normal), f"U+{ord(char):04X} → {normal!r}"
        assert unicodedata.combining(char) == 0 == sum(map(unicodedata.combining, normal))


NEIGHBOURS = ["a", "Z", "1", "é", "e\u0301", "\u0301", "液", "冷", "ｶ", "ﾞ", "Ａ", "①", "㈱", " "]
NEIGHBOURS.append("")


def test_each_blanked_character_between_any_neighbours() -> None:
    """Blanked punctuation between letters, digits, CJK, half- and full-width forms and
    combining marks tokenises as before."""
    for char in _blanked():
        for left in NEIGHBOURS:
            for right in NEIGHBOURS:
                text = left + char + right
                assert as_text(text) == reference(text), repr(text)


def test_random_texts_of_every_kind_of_character() -> None:
    """20,000 random texts over CJK, kana, Hangul, Latin, digits, full-width and half-width
    forms, compatibility characters, combining marks and punctuation."""
    alphabet = (
        "液冷存储芯片光模块涨价周期天孚通信中际旭创々〆〇ー・ｶﾞｧ한국ㄱ"
        "abcXYZ019_ éÉßẞΣσςİıﬁ№①⑴㈱㍻ＣＰＯ１２ｈｂｍ\u0301\u0308\u3099\u309a"
        "，。！？：；（）【】「」《》、…—“”‘’　 \n\t-/.,%$#＿～｡｢｣､･\U0002000b\U0001f600"
        "\uf900\ufa0e\ufa11\ufa24\ufaff\u3400\u4dbf\u9fff\uac00\ud7af\u3040\u30ff"  # range ends
    )
    rng = random.Random(23)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert as_text(text) == reference(text), repr(text)


def test_the_posts_of_the_benches_and_the_samples(tmp_path: Path) -> None:
    """Whole posts: the sample posts and 200 of bench/ingest.py's."""
    write_posts(tmp_path, 200)
    tz = ZoneInfo("Asia/Shanghai")
    for path in [*EXAMPLES.glob("*.md"), *tmp_path.glob("*.md")]:
        draft = read_post_file(path, tz=tz)
        for text in (draft.title, markdown_to_text(draft.body_markdown).text):
            assert as_text(text) == reference(text), path.name
