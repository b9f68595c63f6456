"""Use cases in plain Python: catalogue search, installs, links, access policy.

Nothing here imports Slack, Flask or an HTTP library; Cyclr is reached through callables
and clients passed in, so every service runs in a unit test without a network.
"""
