"""Core: what every other component stands on. The registry's models and migrations,
the database, settings, users and tokens, leases, the domain errors, and every status
the platform writes with the cluster state machine (status.py, the only place that
changes `Cluster.status`). Imports nothing else of the platform. See
docs/architecture.md."""
