"""Fake platform APIs served over real HTTP on an ephemeral port (see STYLE.md: fakes at the
HTTP boundary, never patched SDK internals)."""
