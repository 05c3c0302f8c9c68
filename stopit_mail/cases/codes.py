"""Human case numbers and unguessable reporter codes.

Case numbers (SI-2026-0042) are for staff to say aloud; they are sequential and therefore
guessable, so they never grant anything. Reporter codes are random (60 bits, Crockford base32
without look-alike letters) and are the reporter's key to their case alias address.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Imported where numbers are allocated: the staff commands print codes without SQLAlchemy.
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford: no i, l, o, u
REPORTER_CODE_LENGTH = 12


def new_reporter_code() -> str:
    """A fresh random code such as 'k7qd9m2xpa3w': 60 random bits, five to a character (one
    read of the system's random source, not one per character)."""
    import secrets  # here: `cases show` prints codes through the service, and need not load it

    bits = secrets.randbits(5 * REPORTER_CODE_LENGTH)
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(REPORTER_CODE_LENGTH))


def normalise_code(text: str) -> str:
    """Accept codes typed with dashes, spaces or upper case."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _allocate_apart(engine: Engine, prefix: str, year: int) -> int:
    """Bump the counter in its own, immediately committed transaction (PostgreSQL).

    Like a sequence: the counter row is locked for microseconds instead of until the message's
    transaction commits, so several workers open cases in parallel. A rolled-back message
    leaves a gap in the numbers; numbers never repeat.
    """
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from stopit_mail.models import CaseCounter

    where = {"b_prefix": prefix, "b_year": year}
    with engine.begin() as connection:
        # Not waited for on disk: the message's own (synchronous) commit makes it durable.
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        bumped = connection.execute(_bump(), where).scalar()
        if bumped is None:
            connection.execute(pg_insert(CaseCounter).values(prefix=prefix, year=year, last=0)
                               .on_conflict_do_nothing())
            bumped = connection.execute(_bump(), where).scalar_one()
    return int(bumped)


def next_case_number(session: Session, prefix: str, year: int) -> str:
    """Allocate the next number for prefix and year (on SQLite inside the caller's transaction:
    its single writer makes that cheap; on PostgreSQL apart from it, see `_allocate_apart`)."""
    from sqlalchemy import Engine
    from sqlalchemy.exc import IntegrityError

    from stopit_mail.models import CaseCounter

    bind = session.get_bind()
    if bind.dialect.name == "postgresql" and isinstance(bind, Engine):
        return f"{prefix}-{year}-{_allocate_apart(bind, prefix, year):04d}"
    where = {"b_prefix": prefix, "b_year": year}
    bumped = session.execute(_bump(), where).scalar()
    if bumped is None:
        try:
            with session.begin_nested():
                session.add(CaseCounter(prefix=prefix, year=year, last=1))
            bumped = 1
        except IntegrityError:
            # Another worker created this year's counter meanwhile (PostgreSQL, several
            # workers): its row is committed and visible now, so bump it instead.
            bumped = session.execute(_bump(), where).scalar_one()
    return f"{prefix}-{year}-{bumped:04d}"


@cache
def _bump() -> Any:
    """The counter's bump, built once (a new case per report runs it)."""
    from sqlalchemy import Table, bindparam, update

    from stopit_mail.models import CaseCounter

    table: Table = CaseCounter.__table__  # type: ignore[assignment]
    return (update(table).where(table.c.prefix == bindparam("b_prefix"), table.c.year == bindparam("b_year"))
            .values(last=table.c.last + 1).returning(table.c.last))


def format_code(code: str) -> str:
    """Group a reporter code for reading aloud: k7qd-9m2x-pa3w."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def case_alias(code: str, mailbox: str) -> str:
    """The case alias address for a mailbox: stopit+<code>@domain."""
    local, _, domain = mailbox.partition("@")
    return f"{local}+{code}@{domain}"
