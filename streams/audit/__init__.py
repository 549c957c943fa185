"""Audit: every valid task event written once to `audit_log`."""
