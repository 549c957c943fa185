"""Task pages (placeholder until the pages land)."""
