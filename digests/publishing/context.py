"""What the admin's use cases reach: the store, digesting and ingestion. Channels check that
the caller is an admin before calling any of them."""

from __future__ import annotations

from dataclasses import dataclass

from digests.ingest.core import IngestContext
from digests.replies import StoreContext
from digests.summarize.digesting import DigestContext


@dataclass
class AdminContext:
    """Everything the admin use cases reach."""

    store: StoreContext
    digests: DigestContext
    ingest: IngestContext
