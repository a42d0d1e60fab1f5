"""Typed shapes of the OCI runtime spec (config.json, state, features) and their validation.

Imports nothing of pyrunc's own and nothing heavy: the runtime loads it on its hot path.
"""
