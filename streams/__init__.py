"""The Faust stream worker: audit log writer, completion emails and per-user counts."""
