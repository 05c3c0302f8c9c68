"""The rollups behind `stopit stats` at a million cases, kept by the database's own triggers.

Two things are kept, on SQLite and PostgreSQL alike, whichever layer writes (the ORM, the
worker's bulk Core inserts, a merge, a retention purge, a raw SQL import):

- `stat_tallies`: signed counts of cases per organisation, month opened, urgency, categories,
  closed or not and outcome (kind "case", or "merged" for a case merged into another, which
  `stats` leaves out and `cases list` counts), and of reports per organisation and month
  received (kind "report", leaving out reports still on a merged case, as `stats` does). A change
  appends -1 for the old attributes and +1 for the new: appending, never updating one shared
  counter row, so two workers never wait for (or deadlock on) each other. `fold` replaces the
  appended rows by one sum per key when they pile up.
- `cases.first_staff_seconds`: the time from opening to the first event a person caused
  (`automatic` false), recomputed from the events whenever one is added, moved or removed,
  with the same arithmetic `stats` used to do per query.

Migration 0013 creates them and fills them; `ensure_rollups` re-creates the triggers (and
refills) if a later migration rebuilt a table on SQLite, which drops its triggers.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from stopit_mail.cases import sender_index
from stopit_mail.models import StatTally

# Appended rows allowed before `stats` folds them (a few thousand rows sum in milliseconds).
FOLD_AT = 5000
COLUMNS = "kind, organisation, month, urgency, categories, closed, outcome, tally, folded"
_INSERT = f"INSERT INTO stat_tallies ({COLUMNS})"
_SQLITE_TRIGGERS = ("tally_cases_ai", "tally_cases_au", "tally_cases_ad", "tally_reports_ai", "tally_reports_au",
                    "tally_reports_ad", "first_staff_events_ai", "first_staff_events_au", "first_staff_events_ad",
                    "first_staff_cases_au")
# What a case is counted under; `{r}` is the row ("new.", "old." or "" for a plain query).
_CASE_KEY = {
    "sqlite": ("{r}organisation, strftime('%Y-%m', {r}opened_at), {r}urgency, coalesce({r}categories, ''), "
               "{r}status = 'closed', CASE WHEN {r}status = 'closed' THEN coalesce({r}outcome, '') ELSE '' END"),
    "postgresql": ("{r}organisation, to_char(timezone('UTC', {r}opened_at), 'YYYY-MM'), {r}urgency, "
                   "coalesce(CAST({r}categories AS TEXT), ''), {r}status = 'closed', "
                   "CASE WHEN {r}status = 'closed' THEN coalesce({r}outcome, '') ELSE '' END"),
}
_REPORT_MONTH = {"sqlite": "strftime('%Y-%m', {r}received_at)",
                 "postgresql": "to_char(timezone('UTC', {r}received_at), 'YYYY-MM')"}
_FALSE = {"sqlite": "0", "postgresql": "false"}
# The delay `stats` reports, exactly as it computed it: the first staff event's time minus opening.
_FIRST_STAFF = {
    "sqlite": ("(julianday((SELECT min(e.at) FROM events e WHERE e.case_id = cases.id AND e.automatic = 0)) "
               "- julianday(cases.opened_at)) * 86400.0"),
    "postgresql": ("CAST(extract(epoch FROM (SELECT min(e.at) FROM events e WHERE e.case_id = cases.id "
                   "AND e.automatic = false) - cases.opened_at) AS FLOAT)"),
}


def _kind(r: str) -> str:
    """A case merged into another is tallied apart: `cases list` counts it, `stats` does not."""
    return f"CASE WHEN {r}merged_into_id IS NULL THEN 'case' ELSE 'merged' END"


def _case_rows(dialect: str, r: str, sign: int) -> str:
    """SELECT the tally row of case row `r` with `sign`."""
    return f"SELECT {_kind(r)}, {_CASE_KEY[dialect].format(r=r)}, {sign}, {_FALSE[dialect]}"


def _report_rows(dialect: str, r: str, sign: int) -> str:
    """SELECT the tally row of report row `r` under its case, unless that case was merged away."""
    return (f"SELECT 'report', c.organisation, {_REPORT_MONTH[dialect].format(r=r)}, '', '', "
            f"{_FALSE[dialect]}, '', {sign}, {_FALSE[dialect]} FROM cases c "
            f"WHERE c.id = {r}case_id AND c.merged_into_id IS NULL")


def _case_reports(dialect: str, r: str, sign: str) -> str:
    """SELECT the report tallies of every report on case row `r` (when its organisation or merge changes)."""
    month = _REPORT_MONTH[dialect].format(r="reports.")
    return (f"SELECT 'report', {r}organisation, {month}, '', '', {_FALSE[dialect]}, '', {sign}count(*), "
            f"{_FALSE[dialect]} FROM reports WHERE reports.case_id = {r}id AND {r}merged_into_id IS NULL "
            f"GROUP BY {month}")


_CASE_CHANGES = "organisation, opened_at, urgency, categories, status, outcome, merged_into_id"
_MOVED = "(old.organisation IS NOT new.organisation OR old.merged_into_id IS NOT new.merged_into_id)"


def sqlite_trigger_statements() -> list[str]:
    """The SQLite triggers that keep both rollups."""
    d, key = "sqlite", _CASE_KEY["sqlite"]
    changed = f"({key.format(r='old.')}, old.merged_into_id) IS NOT ({key.format(r='new.')}, new.merged_into_id)"
    first = f"UPDATE cases SET first_staff_seconds = {_FIRST_STAFF[d]}"
    return [
        f"CREATE TRIGGER IF NOT EXISTS tally_cases_ai AFTER INSERT ON cases BEGIN {_INSERT} {_case_rows(d, 'new.', 1)}; END",
        f"CREATE TRIGGER IF NOT EXISTS tally_cases_au AFTER UPDATE OF {_CASE_CHANGES} ON cases WHEN {changed} BEGIN "
        f"{_INSERT} {_case_rows(d, 'old.', -1)}; {_INSERT} {_case_rows(d, 'new.', 1)}; "
        f"{_INSERT} {_case_reports(d, 'old.', '-')} HAVING {_MOVED}; "
        f"{_INSERT} {_case_reports(d, 'new.', '')} HAVING {_MOVED}; END",
        f"CREATE TRIGGER IF NOT EXISTS tally_cases_ad AFTER DELETE ON cases BEGIN "
        f"{_INSERT} {_case_rows(d, 'old.', -1)}; {_INSERT} {_case_reports(d, 'old.', '-')}; END",
        f"CREATE TRIGGER IF NOT EXISTS tally_reports_ai AFTER INSERT ON reports BEGIN "
        f"{_INSERT} {_report_rows(d, 'new.', 1)}; END",
        f"CREATE TRIGGER IF NOT EXISTS tally_reports_au AFTER UPDATE OF case_id, received_at ON reports BEGIN "
        f"{_INSERT} {_report_rows(d, 'old.', -1)}; {_INSERT} {_report_rows(d, 'new.', 1)}; END",
        f"CREATE TRIGGER IF NOT EXISTS tally_reports_ad AFTER DELETE ON reports BEGIN "
        f"{_INSERT} {_report_rows(d, 'old.', -1)}; END",
        f"CREATE TRIGGER IF NOT EXISTS first_staff_events_ai AFTER INSERT ON events "
        f"WHEN new.automatic = 0 AND new.case_id IS NOT NULL BEGIN {first} WHERE id = new.case_id; END",
        f"CREATE TRIGGER IF NOT EXISTS first_staff_events_au AFTER UPDATE OF case_id, at, automatic ON events "
        f"BEGIN {first} WHERE id IN (old.case_id, new.case_id); END",
        f"CREATE TRIGGER IF NOT EXISTS first_staff_events_ad AFTER DELETE ON events WHEN old.automatic = 0 "
        f"BEGIN {first} WHERE id = old.case_id; END",
        f"CREATE TRIGGER IF NOT EXISTS first_staff_cases_au AFTER UPDATE OF opened_at ON cases "
        f"BEGIN {first} WHERE id = new.id; END",
    ]


def postgresql_trigger_statements() -> list[str]:
    """The PostgreSQL trigger functions and triggers that keep both rollups."""
    d, key = "postgresql", _CASE_KEY["postgresql"]
    changed = (f"ROW({key.format(r='OLD.')}, OLD.merged_into_id) IS DISTINCT FROM "
               f"ROW({key.format(r='NEW.')}, NEW.merged_into_id)")
    moved = "(OLD.organisation IS DISTINCT FROM NEW.organisation OR OLD.merged_into_id IS DISTINCT FROM NEW.merged_into_id)"
    first = f"UPDATE cases SET first_staff_seconds = {_FIRST_STAFF[d]}"
    return [
        f"""CREATE OR REPLACE FUNCTION stopit_tally_cases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN RETURN NULL; END IF;
  IF TG_OP <> 'INSERT' THEN
    {_INSERT} {_case_rows(d, 'OLD.', -1)};
    IF TG_OP = 'DELETE' OR {moved} THEN {_INSERT} {_case_reports(d, 'OLD.', '-')}; END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    {_INSERT} {_case_rows(d, 'NEW.', 1)};
    IF TG_OP = 'UPDATE' AND {moved} THEN {_INSERT} {_case_reports(d, 'NEW.', '')}; END IF;
  END IF;
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION stopit_tally_reports() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN {_INSERT} {_report_rows(d, 'OLD.', -1)}; END IF;
  IF TG_OP <> 'DELETE' THEN {_INSERT} {_report_rows(d, 'NEW.', 1)}; END IF;
  RETURN NULL;
END $$""",
        f"""CREATE OR REPLACE FUNCTION stopit_first_staff() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'cases' THEN {first} WHERE id = NEW.id; RETURN NULL; END IF;
  IF TG_OP <> 'INSERT' AND NOT OLD.automatic THEN {first} WHERE id = OLD.case_id; END IF;
  IF TG_OP <> 'DELETE' AND NOT NEW.automatic THEN {first} WHERE id = NEW.case_id; END IF;
  RETURN NULL;
END $$""",
        "DROP TRIGGER IF EXISTS tally_cases ON cases",
        f"CREATE TRIGGER tally_cases AFTER INSERT OR DELETE OR UPDATE OF {_CASE_CHANGES} ON cases "
        "FOR EACH ROW EXECUTE FUNCTION stopit_tally_cases()",
        "DROP TRIGGER IF EXISTS tally_reports ON reports",
        "CREATE TRIGGER tally_reports AFTER INSERT OR DELETE OR UPDATE OF case_id, received_at ON reports "
        "FOR EACH ROW EXECUTE FUNCTION stopit_tally_reports()",
        "DROP TRIGGER IF EXISTS first_staff_events ON events",
        "CREATE TRIGGER first_staff_events AFTER INSERT OR DELETE OR UPDATE OF case_id, at, automatic ON events "
        "FOR EACH ROW EXECUTE FUNCTION stopit_first_staff()",
        "DROP TRIGGER IF EXISTS first_staff_cases ON cases",
        "CREATE TRIGGER first_staff_cases AFTER UPDATE OF opened_at ON cases "
        "FOR EACH ROW EXECUTE FUNCTION stopit_first_staff()",
    ]


def backfill_statements(dialect: str) -> list[str]:
    """Recount both rollups from the tables (migration, repair, or after a bulk load without triggers)."""
    d = "postgresql" if dialect == "postgresql" else "sqlite"
    true = "true" if d == "postgresql" else "1"
    key = _CASE_KEY[d].format(r="")
    month = _REPORT_MONTH[d].format(r="reports.")
    return [
        "DELETE FROM stat_tallies",
        f"{_INSERT} SELECT {_kind('')}, {key}, count(*), {true} FROM cases GROUP BY 1, 2, 3, 4, 5, 6, 7",
        f"{_INSERT} SELECT 'report', cases.organisation, {month}, '', '', {_FALSE[d]}, '', count(*), {true} "
        "FROM reports JOIN cases ON cases.id = reports.case_id WHERE cases.merged_into_id IS NULL GROUP BY 2, 3",
        f"UPDATE cases SET first_staff_seconds = {_FIRST_STAFF[d]} "
        f"WHERE id IN (SELECT case_id FROM events WHERE automatic = {_FALSE[d]})",
    ]


def trigger_statements(dialect: str) -> list[str]:
    """The triggers for this dialect."""
    return postgresql_trigger_statements() if dialect == "postgresql" else sqlite_trigger_statements()


def ensure_rollups(connection: Connection) -> bool:
    """Re-create lost SQLite triggers (a batch migration rebuilt a table) and recount; True if it had to.

    The sender index of migration 0013 (cases/sender_index.py) is checked and repaired too.
    """
    if connection.dialect.name != "sqlite":
        return False
    repaired = sender_index.ensure(connection)
    present = set(connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN "
        f"({', '.join(repr(name) for name in _SQLITE_TRIGGERS)})").scalars())
    if present == set(_SQLITE_TRIGGERS):
        return repaired
    for statement in [*sqlite_trigger_statements(), *backfill_statements("sqlite")]:
        connection.exec_driver_sql(statement)
    return True


def fold(session: Session, at_least: int = FOLD_AT) -> bool:
    """Sum the appended tally rows into one row per key, when there are `at_least` of them.

    Only rows up to the highest id seen are folded. On PostgreSQL one statement deletes and
    re-inserts them under one snapshot, so a row committed meanwhile is neither lost nor counted
    twice; SQLite has one writer at a time.
    """
    unfolded = session.scalar(select(func.count()).select_from(StatTally).where(StatTally.folded.is_(False))) or 0
    if unfolded < max(at_least, 1):
        return False
    last = session.scalar(select(func.max(StatTally.id)))
    keys = "kind, organisation, month, urgency, categories, closed, outcome"
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(
            f"WITH gone AS (DELETE FROM stat_tallies WHERE id <= %(last)s RETURNING {keys}, tally) "
            f"{_INSERT} SELECT {keys}, sum(tally), true FROM gone GROUP BY {keys} HAVING sum(tally) <> 0",
            {"last": last})
    else:
        connection = session.connection()
        connection.exec_driver_sql(f"{_INSERT} SELECT {keys}, sum(tally), 1 FROM stat_tallies WHERE id <= ? "
                                   f"GROUP BY {keys} HAVING sum(tally) <> 0", (last,))
        connection.exec_driver_sql("DELETE FROM stat_tallies WHERE id <= ?", (last,))
    return True
