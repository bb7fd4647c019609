"""The readers' side, the same on every channel: the access rules (access, pure; who is
entitled to what, as SQL, is digests/entitlement.py, below the outbox), a reader's account,
unlocking with a period's password (passwords) or a one-use code (codes), the admin's side of
both (periods: the passwords; code_batches: the codes), what they read (reading),
access-expiry notices (expiry), signed links to a digest's page (pagelinks), Telegram Stars
subscriptions (stars, stars_manage), and finding and revoking readers (revocation). Each use
case returns a Reply (digests/replies.py) that a channel turns into its own messages; replies
to readers are in Chinese."""
