"""``python -m bot``: the same as the ``cyclr-bot`` console script."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
