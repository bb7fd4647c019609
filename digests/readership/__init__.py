"""The readership: a record of what each reader was sent (audit), what readers did with it
(actions: page opens, button taps), the figures and chart built from both (stats, chart), and
the admin's replies made of them (report: /stats, /subscribers, the weekly report)."""
