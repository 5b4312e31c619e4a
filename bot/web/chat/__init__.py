"""The web app's chat pages."""
