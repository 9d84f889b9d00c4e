"""Production operations, the `stax` command: what an installation runs besides the services
(`stax init` before them, API keys, Kafka tenants, erasure). It ships in the services' image, so it
needs only the runtime dependencies and imports nothing from the local launcher (`deploy.local`)."""
