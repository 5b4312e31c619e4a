"""The bot's knowledge: the sanitised unbind guide and the topics answered from it."""
