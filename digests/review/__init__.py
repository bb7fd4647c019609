"""The author's last word on a digest: revisions of its text, edits checked against the schema
and the post (the gate's opinion is a warning, never a block), the compact plain text a
Telegram admin edits, and the signed admin links to the review page.

    revisions.py   save an edit as the digest's next revision, refused on a stale base
    check.py       what an edit changed, what makes it invalid, what the gate thinks of it
    plain.py       the digest as compact plain text, and that text read back
    links.py       15-minute review links bound to one admin
"""
