"""The Telegram channel on python-telegram-bot."""

import os

# Opt in to PTB's coming behaviour (time periods as timedelta, e.g. RetryAfter.retry_after):
# the int form is deprecated since v22.2 and warns on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")
