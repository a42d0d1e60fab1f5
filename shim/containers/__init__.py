"""Containers: metadata store, OCI spec generation, the runtime CLI wrapper and the per-container monitor."""
