"""The event calendar: events proposed from digests (their dates resolved by digests/days/),
the exchange's closures, reminders, iCalendar, and the admin's calendar commands."""
