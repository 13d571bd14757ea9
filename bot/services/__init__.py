"""Domain services: the rules about customers. They take a session and never commit."""
