"""The web app on :8000: the merchants' chat page and the agents' console."""
