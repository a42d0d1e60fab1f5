"""The engine's one error type."""


class EngineError(Exception):
    """A failure shown to the user as one line ``Error: ...`` (exit code ``code``, default 1)."""

    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code
