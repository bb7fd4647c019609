"""The errors the domain raises; each message is a sentence fit to show the admin.

    DigestbotError
     ├── RejectedInput         a post or source we will not take, and why
     │    └── NoFittingPassword   encrypted, and none of the known passwords opens it
     ├── FetchFailed           a URL could not be fetched (network error or HTTP error status)
     ├── NotFound              no such post (slug, id) or nothing stored yet
     ├── LLMError              the summary could not be made now; the post stays pending
     │    ├── LLMUnavailable      unreachable, rate-limited or failing after the retries
     │    └── LLMBadAnswer        answered, but not a usable digest (blank, cut off, not JSON,
     │                            not a chat completion, far longer than asked for)
     ├── EditedDigest          a regeneration that would replace an admin's edit: ask first
     ├── StaleRevision         an edit made on a revision another save has replaced
     ├── CalendarDataMissing   a day the exchange calendar cannot place (days/trading.py)
     ├── NamesSnapshotInvalid  a securities snapshot that cannot be used; names the file and row
     ├── NamesSourceMissing    `names update` found no source package and was given no CSV
     └── PageSecretMissing     no secret to sign digest-page links with (pagelinks.py)

Channels catch DigestbotError and show its message; anything else is a bug, logged in full.
"""

from __future__ import annotations


class DigestbotError(Exception):
    """Base of every error whose message is meant for a person."""


class RejectedInput(DigestbotError):
    """The input is malformed or incomplete; nothing of it was stored."""


class NoFittingPassword(RejectedInput):
    """An encrypted post that none of the known passwords decrypts."""

    def __init__(self, tried: int) -> None:
        super().__init__(
            f"encrypted; none of the known passwords opens it ({tried} tried)"
            if tried
            else "encrypted; no password is configured (FEED_PASSWORDS or --password)"
        )


class FetchFailed(DigestbotError):
    """A remote source did not answer with usable content."""


class NotFound(DigestbotError):
    """The thing asked for does not exist."""


class LLMError(DigestbotError):
    """Summarising failed for now; the caller records the post as pending and retries later."""


class LLMUnavailable(LLMError):
    """The model server could not be reached, rate-limited us, or kept failing."""


class LLMBadAnswer(LLMError):
    """The model answered something that is not a usable digest."""


class EditedDigest(DigestbotError):
    """The digest holds an admin's edit: regenerating would replace it, so the caller asks."""

    def __init__(self, revision: int, author: str) -> None:
        super().__init__(
            f"the digest holds an edit (revision {revision}, by {author or 'an admin'}); "
            "regenerating replaces it (the edit stays in the revisions)"
        )
        self.revision, self.author = revision, author


class StaleRevision(DigestbotError):
    """An edit based on a revision that is no longer the digest's: nothing was saved."""

    def __init__(self, base: int, current: int) -> None:
        super().__init__(
            f"not saved: this edit was made on revision {base}, and revision {current} has "
            "been saved since"
        )
        self.base, self.current = base, current


class NamesSnapshotInvalid(DigestbotError):
    """A securities snapshot (digests/names/) is missing, empty or malformed; the message names
    the file and, when one is to blame, the row."""

    def __init__(self, path: object, reason: str, *, row: int | None = None) -> None:
        where = f"{path}, row {row}" if row is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.row = row


class NamesSourceMissing(DigestbotError):
    """No source package (installed or downloaded) to build a securities snapshot from."""
