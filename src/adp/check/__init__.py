"""The pre-flight check (`adp check`): `state` keeps what the last good run looked like, `preflight`
compiles what changed since and lets the warehouse's binder judge it without a build."""
