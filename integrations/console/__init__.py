"""The local channels: a terminal REPL (``scrm chat``) and the web playground."""
