"""Slack: signed events, slash commands, buttons, App Home, digests, and Block Kit rendering.

``wiring.mount`` is the entry point; docs/slack.md is the admin's guide.
"""
