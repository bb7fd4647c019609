"""The readership: a record of what each reader was sent (audit), what readers did with it
(actions: page opens, button taps), and the figures and chart built from both (stats, chart)."""
