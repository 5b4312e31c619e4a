"""Custom actions of 解绑助手, served by the Rasa SDK action server on :5055."""

from bot.logmask import install as _mask_logs

_mask_logs()  # `rasa run actions` imports this package: mask personal data in every log line
