"""One module per pyctr subcommand: ``HELP``, ``add_arguments(parser)``, ``run(ctx, args) -> int``."""
