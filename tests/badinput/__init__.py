"""The bad input suite: thousands of malformed requests at a running bot, none a crash or a 500."""
