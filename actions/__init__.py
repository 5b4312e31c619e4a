"""Custom actions of 解绑助手, served by the Rasa SDK action server on :5055."""
