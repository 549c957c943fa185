"""Operators' Faust app commands: `faust -A streams.app replay` and `faust -A streams.app dlq`."""
