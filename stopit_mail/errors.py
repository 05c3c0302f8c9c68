"""Exception classes, one per kind of failure, caught at the boundaries.

Services raise these; the CLI turns them into a one-line message and the SMTP listener into
a reply code. Input problems inside a message are *not* exceptions: they are recorded as
defects or quarantine reasons (see `stopit_mail.processing`).
"""


class StopitError(Exception):
    """Base class for every error stopit-mail raises on purpose."""


class ConfigError(StopitError):
    """The configuration file is missing, unreadable or invalid.

    `problems` holds one human sentence per mistake so all of them can be shown at once.
    """

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f" in {path}" if path else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration{where}:\n{lines}")


class StorageError(StopitError):
    """The database could not durably store or load something (a temporary fault)."""


class MessageTooLarge(StopitError):
    """A message is larger than the configured limit (SMTP 552)."""


class NotFound(StopitError):
    """A case, message or other record named by the user does not exist."""


class HeaderInjection(StopitError):
    """A header value built from data contains CR or LF."""


class SchemaOutOfDate(StopitError):
    """The database schema is older (or newer) than this version of stopit-mail expects."""
