"""Webhooks: chosen task events POSTed to users' endpoints, signed, at least once, in order."""
