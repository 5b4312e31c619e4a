"""Rasa input channels for WeChat: the Official Account (``wechat``) and WeCom (``wecom``).

Enable them in ``credentials.yml`` with ``bot.channels.wechat.WeChatInput`` and
``bot.channels.wecom.WeComInput``; see ``docs/wechat.md``.
"""
