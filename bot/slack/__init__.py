"""The Slack side of the bot: command parsing, help content, and Slack surfaces."""
