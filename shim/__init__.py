"""pyctr: a minimal container engine on top of an OCI runtime CLI (pyrunc, or runc) and pyrunc's graph drivers.

It drives the runtime only through its command line, as containerd does, so ``--runtime runc`` works too,
and never imports ``pyrunc.runtime``.
"""
