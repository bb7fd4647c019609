"""The event calendar: dates in digests resolved against the Shanghai exchange calendar, reminders, iCalendar."""  # noqa: E501
