"""Data intake: row schemas, per-row validation and the batch upsert shared by API and CLI."""
