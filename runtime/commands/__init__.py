"""One module per subcommand (runc's layout); each exposes ``run(gopts, opts, args) -> int``."""
from ..errors import Error


def need_id(args: list[str], cmd: str, usage: str = "<container-id>") -> str:
    """The single container ID argument, with runc's complaint when it is missing."""
    if len(args) < 1:
        raise Error(f'"{cmd}" requires a minimum of 1 argument\nusage: pyrunc {cmd} {usage}')
    return args[0]
