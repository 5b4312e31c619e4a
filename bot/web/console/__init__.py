"""The web app's console pages."""
