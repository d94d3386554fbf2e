"""Typed errors of the process manager. Library code raises these; only fastwsgi.cli picks exit codes."""


class FastWSGIError(Exception):
    """Base class of every error fastwsgi raises on purpose."""


class ConfigError(FastWSGIError):
    """A setting, a config file or the command line is invalid. The message is one line, ready to print."""


class AppImportError(FastWSGIError):
    """The WSGI application spec could not be resolved to a callable (import error, missing name, bad factory)."""


class BindError(FastWSGIError):
    """A listening socket could not be created (address in use, permission, bad inherited fd)."""


class HaltServer(FastWSGIError):
    """The master must stop: `reason` is a one-line explanation, `exit_status` the process exit code."""

    def __init__(self, reason: str, exit_status: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_status = exit_status


# Exit codes a worker uses to tell the master why it died before serving (same values as gunicorn).
WORKER_BOOT_ERROR = 3
APP_LOAD_ERROR = 4
