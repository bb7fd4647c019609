"""The securities dictionary (a dated snapshot of listed names) and the name matcher.

The API, for the digest pipeline and the commands:

    from digests.names import load

    names = load(settings.names_dir)         # Dictionary; newest good snapshot, cached per process
    for m in names.find(post_text):          # list[Mention], leftmost-longest, non-overlapping
        m.security.code, m.security.name     # "300308.SZ", "中际旭创"
        m.start, m.end, m.text               # offsets in post_text, and what is written there
        m.common                             # the written words are also an ordinary word
    names.lookup("京东方Ａ")                  # Security | None for one written name

- `Security` (frozen): `code` and `market` of its first listing, `codes` (all listings of one
  listed name, e.g. an A+H pair), `name` (short name as listed), `forms` (written forms that
  count), `common` (the name is an ordinary word: 机器人, 太阳能), `common_forms`.
- `Mention` (frozen): `security`, `start`, `end`, `text` (the caller's `text[start:end]`),
  `form` (the dictionary form matched), `common`.
- `Dictionary`: `find(text)`, `lookup(name)`, `len()`, `securities`, `listings`, `path`,
  `date`, `skipped` (snapshots passed over, and why).
- `load(directory: Path | None) -> Dictionary`: the newest valid `securities-YYYY-MM-DD.csv` in
  `directory` (NAMES_DIR) or shipped in `snapshot/`; a bad file is logged with its row and
  passed over; NamesSnapshotInvalid when none is usable.

Common names are found like any other: callers decide whether to count them (in a list of
names, or beside a code). Matching rules are in matcher.py, forms in forms.py, the snapshot
format in snapshot.py, building one in build.py and sources.py; the shipped snapshot's sources,
dates and licences are in snapshot/SOURCE.md. Foreign companies' Chinese names (英伟达, 台积电,
SK海力士), which no usable package ships, and corrections of known package errors are kept by
hand in curated/ (its README.md has the criterion) and applied by every build.
"""

from digests.names.matcher import Dictionary, Listing, Mention, Security
from digests.names.snapshot import SHIPPED, load

__all__ = ["SHIPPED", "Dictionary", "Listing", "Mention", "Security", "load"]
