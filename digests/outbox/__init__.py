"""The delivery engine (the outbox). Every outgoing message is a `delivery` row before it is
sent; the dispatcher sends due rows under each channel's limits and records the outcome.

    enqueue     publish / broadcast / one-off message → rows (set-based)
    dispatcher  claim → resolve → send (channels pace) → record (recorder)
    running     the process's one send run (the delivery tick, a publish, the notices)
    retry       the policy: what an outcome makes of its row (a pure function)
    editions    the scheduled bundle of digests;  mass  WeChat's daily mass-send plan
    leader      which process sends (PostgreSQL advisory lock);  progress  counts read back

What channels and jobs use is imported from the submodules named here; `types` holds the
vocabulary a channel implements (SendResult, Reader, Channel) and the Kinds registry the
engine is handed: the kinds themselves are assembled above it (digests/kinds.py), so the engine
imports no feature.
"""
