"""Local infrastructure for `make run` and the tests: embedded PostgreSQL, the broker, a supervisor.

Both the dev stack and both sides' test suites start the same real servers from pip wheels,
so this lives beside the settings rather than in either process.
"""
