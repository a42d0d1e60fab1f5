"""One module per pyctr subcommand: ``HELP``, ``add_arguments(parser)``, ``run(ctx, args) -> int``."""
import sys


def for_each_container(ctx, refs: list[str], action, echo: bool = True) -> int:
    """docker's multi-container commands: run ``action(container)`` on each, print the name (or
    what ``action`` returns), report failures like the daemon does, exit 1 if any failed."""
    from ..containers.store import ContainerStore
    from ..errors import EngineError
    store = ContainerStore(ctx)
    failed = False
    for ref in refs:
        try:
            out = action(store.get(ref))
            if echo:
                print(ref if out is None else out, flush=True)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
