"""Hexo front matter → Draft: every variant the author's blog may contain, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digests.errors import RejectedInput
from digests.ingest.hexo import MAX_POST_BYTES, parse_post, read_post_file
from tests.conftest import EXAMPLES, SHANGHAI


def parse(text: str, stem: str = "file-stem") -> object:
    return parse_post(text.encode(), stem=stem, source_ref="x.md", tz=SHANGHAI)


def test_seed_post_fields() -> None:
    """The real seed post: slug from `link`, naive date in Asia/Shanghai, gated by password."""
    draft = read_post_file(EXAMPLES / "2-10-zhui-zong.md", tz=SHANGHAI)
    assert draft.slug == "2-10-zhui-zong"
    assert draft.title == "2.10科技大爆发，字节模型解读，CPO更新"
    assert draft.published_at == datetime(2026, 2, 12, 13, 27, 29, tzinfo=SHANGHAI)
    assert draft.published_at.utcoffset() == timedelta(hours=8)
    assert draft.categories == ["投研"]
    assert draft.gated and draft.encrypted
    assert "【小熊团队】" in draft.body_markdown


def test_slug_falls_back_to_file_stem_and_link_may_be_a_url() -> None:
    """No `link` → file stem; a `link` URL or path keeps its last segment."""
    assert parse("---\ntitle: t\ndate: 2026-01-01\n---\nbody", stem="my-post").slug == "my-post"
    url = "---\ntitle: t\ndate: 2026-01-01\nlink: https://b.example/2026/cpo-update/\n---\nx"
    assert parse(url).slug == "cpo-update"


def test_date_variants_and_aware_dates_keep_their_offset() -> None:
    """Dates as YAML timestamps, strings, slashes, date-only and with explicit offsets."""
    utc = parse("---\ntitle: t\ndate: 2026-02-12T05:27:29Z\n---\nx").published_at
    assert utc == datetime(2026, 2, 12, 5, 27, 29, tzinfo=UTC)
    slashes = parse("---\ntitle: t\ndate: '2026/02/12 13:27'\n---\nx").published_at
    assert slashes == datetime(2026, 2, 12, 13, 27, tzinfo=SHANGHAI)
    day = parse("---\ntitle: t\ndate: 2026-02-12\n---\nx").published_at
    assert day == datetime(2026, 2, 12, tzinfo=SHANGHAI)
    updated = parse("---\ntitle: t\ndate: 2026-02-12\nupdated: 2026-02-13 08:00:00\n---\nx")
    assert updated.updated_at == datetime(2026, 2, 13, 8, tzinfo=SHANGHAI)


def test_categories_tags_as_string_list_and_nested_lists() -> None:
    """Hexo allows a string, a list and nested lists (hierarchies); all flatten, deduplicated."""
    draft = parse(
        "---\ntitle: t\ndate: 2026-01-01\ncategories:\n  - [投研, A股]\n  - 投研\ntags: CPO\n---\nx"
    )
    assert draft.categories == ["投研", "A股"]
    assert draft.tags == ["CPO"]


def test_abstract_or_description_and_ungated_post() -> None:
    """`abstract` wins over `description`; no password and no `encrypted` → not gated."""
    draft = parse("---\ntitle: t\ndate: 2026-01-01\ndescription: 摘要\n---\nx")
    assert draft.abstract == "摘要"
    assert not draft.gated
    both = parse("---\ntitle: t\ndate: 2026-01-01\nabstract: A\ndescription: D\n---\nx")
    assert both.abstract == "A"


def test_title_falls_back_to_first_heading() -> None:
    """No title in front matter → the body's first heading."""
    assert parse("---\ndate: 2026-01-01\n---\n\n## 本周风险 ##\n\n正文").title == "本周风险"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("---\ndate: 2026-01-01\n---\n没有标题的正文", "no title"),
        ("---\ntitle: t\n---\nbody", "no date"),
        ("no front matter at all, no heading", "no title"),
        ("# 标题\n\n没有 front matter 就没有日期", "no date"),
        ("---\ntitle: [unclosed\ndate: 2026-01-01\n---\nx", "front matter is not valid YAML"),
        ("---\n- a\n- b\n---\nx", "front matter is not a set of"),
        ("---\ntitle: t\ndate: next tuesday\n---\nx", "is not a date"),
        (
            "---\ntitle: t\ndate: 2026-02-30 10:00:00\n---\nx",
            "date 2026-02-30 10:00:00 is not a real date",
        ),
        ("---\ntitle: t\ndate: '2026/02/30'\n---\nx", "date 2026/02/30 is not a real date"),
        (
            "---\ntitle: t\ndate: 2026-01-01\nupdated: 2026-13-01\n---\nx",
            "updated 2026-13-01 is not a real",
        ),
        ("---\ntitle: t\ndate: 0001-01-01\n---\nx", "date 0001-01-01 is out of range"),
        ("---\ntitle: t\ndate: 9999-12-31 23:00:00 -05:00\n---\nx", "is out of range"),
        ("---\ntitle: t\ndate: '1899-12-31'\n---\nx", "date 1899-12-31 is out of range"),
    ],
)
def test_bad_front_matter_is_rejected_with_a_reason(text: str, reason: str) -> None:
    """Each broken post is refused with a sentence that names the problem."""
    with pytest.raises(RejectedInput, match=reason):
        parse(text)


def test_gb18030_text_is_decoded() -> None:
    """A post saved as GB18030 by an older editor reads correctly."""
    raw = "---\ntitle: 中文标题\ndate: 2026-01-01\n---\n正文".encode("gb18030")
    assert parse_post(raw, stem="s", source_ref="s", tz=SHANGHAI).title == "中文标题"


def test_binary_and_oversized_files_are_refused(tmp_path: Path) -> None:
    """A binary file and a file over 2 MB are refused before parsing."""
    binary = tmp_path / "image.md"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(RejectedInput, match="binary file"):
        read_post_file(binary, tz=SHANGHAI)
    big = tmp_path / "big.md"
    big.write_bytes(b"---\ntitle: t\ndate: 2026-01-01\n---\n" + b"x" * MAX_POST_BYTES)
    with pytest.raises(RejectedInput, match="over 2 MB"):
        read_post_file(big, tz=SHANGHAI)


def test_undecodable_bytes_are_refused() -> None:
    """Bytes that are neither UTF-8 nor GB18030 give a clear reason."""
    with pytest.raises(RejectedInput, match="neither UTF-8 nor GB18030"):
        parse_post(b"---\ntitle: \xff\xff\xff\n---\n", stem="s", source_ref="s", tz=SHANGHAI)
