"""The admin's publishing use cases, the same on every channel: what they reach (context), an
admin's post, its preview and review (drafts), publishing it (publish), and broadcasts
(broadcasts). Channels check that the caller is an admin before calling any of them."""
