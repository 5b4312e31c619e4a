"""Rasa input channels: REST, WeChat Official Account (``wechat``) and WeCom (``wecom``).

Enable them in ``credentials.yml``; see ``docs/wechat.md``. Rasa imports this package
when it loads the channels, so every log line of the Rasa process is masked from then
on (``bot.logmask``).
"""

from bot.logmask import install as _mask_logs

_mask_logs()
