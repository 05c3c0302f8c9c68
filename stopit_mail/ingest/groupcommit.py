"""Group commit: concurrent SMTP deliveries share one transaction and one durable commit.

With SQLite every commit is an fsync and writers take turns, so one transaction per message
caps the listener at a few hundred messages a second, and under a burst clients wait in line
for the lock. Here one writer thread owns all inserts: whatever messages arrived while the
previous commit was running are inserted together and committed once. Every waiting client
gets its answer only after *that* commit returned, so "250 means stored" holds exactly as
with `store_raw`, and the semantics are the same: identical bytes are stored once (also
within one batch), oversized messages raise MessageTooLarge, database faults StorageError.

Nothing waits for a batch to fill: an idle server commits a lone message at once, so a single
client sees the latency of one commit, and a busy one amortises the fsync over the burst.
The writer keeps one connection and uses Core statements, and hands a whole batch's results
back to the event loop in one wake-up: under load the event loop and this thread share one
CPU (the GIL), so every bit of per-message work here is taken from accepting mail.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from stopit_mail.cases.pretriage import Verdict
from stopit_mail.errors import MessageTooLarge, StorageError
from stopit_mail.ingest.atrest import AtRest
from stopit_mail.ingest.rawstore import SOURCES, Envelope, Prioritise, StoreResult, sha256_hex, store_raw
from stopit_mail.models import RawMessage, utcnow

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    content: bytes
    envelope: Envelope
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[StoreResult]
    digest: str = field(default="")
    verdict: Verdict = field(default_factory=Verdict)
    # The content, mail_from and peer columns as stored (sealed at rest).
    stored: dict[str, object] | None = None


def store_batch(connection: Connection, batch: Sequence[_Pending]) -> list[StoreResult]:
    """Insert every message of `batch` not yet stored, in one transaction; results in order."""
    for item in batch:
        item.digest = item.digest or sha256_hex(item.content)
    digests = {item.digest for item in batch}
    with connection.begin():
        rows = connection.execute(
            select(RawMessage.sha256, RawMessage.id).where(RawMessage.sha256.in_(digests)))
        known: dict[str, int] = {digest: raw_id for digest, raw_id in rows}
        values: dict[str, dict[str, object]] = {}
        now = utcnow()
        for item in batch:
            if item.digest in known or item.digest in values:
                continue
            envelope = item.envelope
            values[item.digest] = {
                "sha256": item.digest, "size": len(item.content), "received_at": now, "source": envelope.source,
                "source_ref": envelope.source_ref, "rcpt_to": list(envelope.rcpt_to), "priority": item.verdict.priority,
                "page_facts": item.verdict.facts,
                **(item.stored or {"content": item.content, "mail_from": envelope.mail_from, "peer": envelope.peer}),
            }
        fresh: dict[str, int] = {}
        if values:
            # One multi-row INSERT ... RETURNING; the commit at the end of the block is the
            # single durable write for the whole batch.
            inserted = connection.execute(insert(RawMessage).returning(RawMessage.sha256, RawMessage.id),
                                          list(values.values()))
            fresh = {digest: raw_id for digest, raw_id in inserted}
    results: list[StoreResult] = []
    created: set[str] = set()
    for item in batch:
        if item.digest in known:
            results.append(StoreResult(known[item.digest], False))
        else:
            # Only the first copy within the batch "created" the row; repeats are duplicates.
            results.append(StoreResult(fresh[item.digest], item.digest not in created))
            created.add(item.digest)
    return results


def _settle(batch: Sequence[_Pending], results: Sequence[StoreResult] | None, error: StorageError | None) -> None:
    """Runs in the event loop: answer every waiting client of one batch."""
    for index, item in enumerate(batch):
        if item.future.done():  # the client went away (its task was cancelled)
            continue
        if results is not None:
            item.future.set_result(results[index])
        else:
            assert error is not None
            item.future.set_exception(error)


class GroupCommitSink:
    """A RawSink whose single writer thread commits concurrent messages together."""

    def __init__(self, engine: Engine, max_bytes: int | None = None,
                 max_batch: int = 128, max_batch_bytes: int = 64 * 1024 * 1024,
                 prioritise: Prioritise | None = None, at_rest: AtRest | None = None) -> None:
        self.engine = engine
        self.prioritise = prioritise
        self.at_rest = at_rest
        self.max_bytes = max_bytes
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.batches = 0
        self._connection: Connection | None = None
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="stopit-group-commit", daemon=True)
        self._thread.start()

    async def store(self, content: bytes, envelope: Envelope) -> StoreResult:
        """Queue the message for the next commit and wait until it is durable."""
        if envelope.source not in SOURCES:
            raise ValueError(f"unknown source {envelope.source!r}")
        if self.max_bytes is not None and len(content) > self.max_bytes:
            raise MessageTooLarge(f"message is {len(content)} bytes, the limit is {self.max_bytes}")
        if not self._thread.is_alive():
            raise StorageError("the writer thread is not running")
        loop = asyncio.get_running_loop()
        pending = _Pending(content, envelope, loop, loop.create_future())
        self._queue.put(pending)
        return await pending.future

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch, size = [first], len(first.content)
                while len(batch) < self.max_batch and size < self.max_batch_bytes:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                    size += len(item.content)
                self._commit(batch)
        finally:
            self._disconnect()

    def _commit(self, batch: list[_Pending]) -> None:
        results: list[StoreResult] | None = None
        error: StorageError | None = None
        try:
            if self.prioritise is not None:
                # Pre-triage here, off the event loop, before the commit that answers 250.
                for item in batch:
                    item.verdict = self.prioritise(item.content, item.envelope.mail_from)
            if self.at_rest is not None:
                # Sealed after the pre-triage read the plaintext in memory, before the commit.
                for item in batch:
                    item.stored = self.at_rest.row(item.content, item.envelope.mail_from, item.envelope.peer)
            try:
                if self._connection is None:
                    self._connection = self.engine.connect()
                results = store_batch(self._connection, batch)
            except IntegrityError:
                # Another process stored some of these bytes meanwhile: settle them one by one.
                factory = sessionmaker(self.engine)
                results = [store_raw(factory, item.content, item.envelope, prioritise=self.prioritise,
                                     at_rest=self.at_rest) for item in batch]
        except StorageError as exc:
            error = exc
        except SQLAlchemyError as exc:
            error = StorageError(f"could not store messages: {exc.__class__.__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
            log.exception("group commit failed")
            error = StorageError(f"could not store messages: {exc!r}")
        if error is not None:
            log.error("could not store %d message(s): %s", len(batch), error)
            # Start afresh next time: the connection may be the broken part.
            self._disconnect()
        else:
            self.batches += 1
        # One wake-up per event loop for the whole batch (there is one loop in practice).
        for loop in {item.loop for item in batch}:
            mine = [(i, item) for i, item in enumerate(batch) if item.loop is loop]
            items = [item for _, item in mine]
            own_results = [results[i] for i, _ in mine] if results is not None else None
            try:
                loop.call_soon_threadsafe(_settle, items, own_results, error)
            except RuntimeError:
                log.warning("event loop closed before %d message(s) could be answered", len(items))

    def _disconnect(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except SQLAlchemyError:
                log.debug("closing the writer connection failed", exc_info=True)
            self._connection = None
