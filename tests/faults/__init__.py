"""Fault suite: the bot against a failing Cyclr, a rate-limiting Slack and killed processes.

``make test`` runs the sized-down variants (under two minutes; the kills of intake and
workers apart need ``CYCLR_BOT_TEST_DATABASE_URL``); ``make soak`` sets ``CYCLR_BOT_SOAK=1``
and runs the large ones marked ``slow``.
"""
