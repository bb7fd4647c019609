"""The WeChat Official Account channel: the /wechat callback (signatures, safe-mode AES, a
timestamp window and a replay cache around wechatpy) and the Chinese text commands."""
