"""Fault suite: the bot against a failing Cyclr, a rate-limiting Slack and a killed process.

``make test`` runs the sized-down variants (a few minutes at most); ``make soak`` sets
``CYCLR_BOT_SOAK=1`` and runs the large ones marked ``slow``.
"""
