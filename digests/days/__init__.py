"""What a day means, below the digests that date events and the calendar that keeps them: a
post's words for a day or a time resolved to a date (dates: 周五, 节后, 今晚8点) and the
exchange's trading days and closures (trading: XSHG)."""
