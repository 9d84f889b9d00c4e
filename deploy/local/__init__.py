"""The developer's launcher, `stax-local` (development only, the `local` extra): a whole stack on
one machine, the demo with its SMTP sink and webhook receiver, and the private stacks of the
tests and benchmarks (`harness`). It uses `deploy.operations` for what an installation does too
(topics, principals, migrations); the reverse is forbidden (pyproject's import contracts)."""
