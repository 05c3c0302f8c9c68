"""Running totals that `stopit stats` reads instead of scanning every case (see cases/rollups.py).

Kept by SQL triggers, not by the services: every path that writes a case or a report (the
worker's bulk inserts, a merge, a purge, a raw SQL import) keeps them right."""

from __future__ import annotations

from sqlalchemy import Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from stopit_mail.models.core import Base


class StatTally(Base):
    """A signed count of cases (or reports) sharing every attribute `stats` groups by.

    Triggers only ever append rows (+1 for a case's new attributes, -1 for its old ones), so
    concurrent writers never wait on one shared counter row; `folded` rows are the sums that
    `cases.rollups.fold` replaces the appended ones with.
    """

    __tablename__ = "stat_tallies"
    __table_args__ = (Index("ix_stat_tallies_folded", "folded"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "case", "merged" or "report"
    organisation: Mapped[str] = mapped_column(String(40))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (UTC) the case was opened or the report received
    urgency: Mapped[str] = mapped_column(String(24))
    categories: Mapped[str] = mapped_column(Text)  # the case's categories as stored (JSON text), "" for none
    closed: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(40))  # "" unless closed with an outcome
    tally: Mapped[int] = mapped_column(Integer)
    folded: Mapped[bool] = mapped_column(Boolean, server_default=false())
