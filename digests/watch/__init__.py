"""Watchlists (issue 15, parts 1-3 and 6): the names a reader follows, alerts when a published
digest names them, a name's timeline, and the most-watched names for the author."""
