"""WeCom (企业微信): render replies as application messages and template cards."""
