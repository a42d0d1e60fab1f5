"""The runtime's one error type; messages use runc's words so callers' string matching works."""


class Error(Exception):
    """A failure reported to the caller as one line on the log and stderr, exit code 1."""


NOT_EXIST = "container does not exist"
EXISTS = "container with given ID already exists"
NOT_RUNNING = "container not running"
PAUSED = "container paused"
NOT_PAUSED = "container not paused"
BAD_ID = "invalid container ID format"
