"""The local stack for `make run` and the tests: embedded PostgreSQL, Tansu, the mail sink, a supervisor.

It starts and drives both web and streams, so it sits above them (never inside `shared/`), and it is
a distribution of its own (devstack/pyproject.toml) that `make bootstrap` installs beside the dev
extra: the production image never contains it or its servers.
"""
