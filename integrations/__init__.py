"""Platform adapters: each channel turns raw input into neutral types and renders replies."""
