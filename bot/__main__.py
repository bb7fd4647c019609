"""`python -m bot` runs the `digestbot` command."""

from bot.cli import main

main()
