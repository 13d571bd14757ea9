"""scrm-assistant: the channel-neutral core (commands, services, API, CLI, settings)."""
