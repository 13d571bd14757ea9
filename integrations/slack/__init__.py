"""Slack: render replies as Block Kit messages."""
