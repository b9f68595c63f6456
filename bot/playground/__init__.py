"""The playground: the bot with the Cyclr sandbox and a local stand-in for Slack.

The Slack stand-in (:mod:`.standin`) answers the Web API methods the bot calls and checks
Block Kit as Slack does; :mod:`.payloads` builds and signs the requests Slack sends to the
bot. The tests use both; ``cyclr-bot playground`` adds a page that renders it all.
"""
