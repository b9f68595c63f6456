"""The HTTP side: the Flask app (Bolt's endpoint, health, link pages) and its gunicorn server."""
