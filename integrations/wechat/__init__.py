"""WeChat Official Account (公众号): followers and their unionid, merged with WeCom contacts."""
