"""Custom actions of 解绑助手, served by the Rasa SDK action server on :5055.

``tracker.events`` holds the latest user turns only, each slot's latest change before
them first (``bot.action_payload``: Rasa no longer sends every event of a long
conversation). An action that reads further back must say so there and in its test.
"""

from bot.logmask import install as _mask_logs

_mask_logs()  # `rasa run actions` imports this package: mask personal data in every log line
