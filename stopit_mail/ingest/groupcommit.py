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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.errors import MessageTooLarge, StorageError
from stopit_mail.ingest.rawstore import SOURCES, Envelope, StoreResult, sha256_hex, store_raw
from stopit_mail.models import RawMessage, utcnow

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    content: bytes
    envelope: Envelope
    future: concurrent.futures.Future[StoreResult] = field(default_factory=concurrent.futures.Future)
    digest: str = ""


def store_batch(factory: sessionmaker[Session], batch: list[_Pending]) -> list[StoreResult]:
    """Insert every message of `batch` not yet stored, in one transaction; results in order."""
    for item in batch:
        item.digest = item.digest or sha256_hex(item.content)
    with factory() as session:
        digests = {item.digest for item in batch}
        rows = session.execute(select(RawMessage.sha256, RawMessage.id).where(RawMessage.sha256.in_(digests)))
        known: dict[str, int] = {digest: raw_id for digest, raw_id in rows}
        values: dict[str, dict[str, object]] = {}
        now = utcnow()
        for item in batch:
            if item.digest in known or item.digest in values:
                continue
            envelope = item.envelope
            values[item.digest] = {
                "sha256": item.digest, "size": len(item.content), "content": item.content,
                "received_at": now, "source": envelope.source, "source_ref": envelope.source_ref,
                "mail_from": envelope.mail_from, "rcpt_to": list(envelope.rcpt_to), "peer": envelope.peer,
            }
        fresh: dict[str, int] = {}
        if values:
            # A Core multi-row INSERT ... RETURNING: far less CPU per message than ORM objects,
            # which matters because this thread shares the GIL with the event loop.
            inserted = session.execute(insert(RawMessage).returning(RawMessage.sha256, RawMessage.id),
                                       list(values.values()))
            fresh = {digest: raw_id for digest, raw_id in inserted}
            session.commit()
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


class GroupCommitSink:
    """A RawSink whose single writer thread commits concurrent messages together."""

    def __init__(self, factory: sessionmaker[Session], max_bytes: int | None = None,
                 max_batch: int = 128, max_batch_bytes: int = 64 * 1024 * 1024) -> None:
        self.factory = factory
        self.max_bytes = max_bytes
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.batches = 0
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
        pending = _Pending(content, envelope)
        self._queue.put(pending)
        return await asyncio.wrap_future(pending.future)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch: list[_Pending] = []
            size = 0
            item: _Pending | None = first
            while item is not None:
                # Claiming the future makes a later cancel (client gone) impossible, so
                # set_result cannot fail; a message whose client already left is dropped,
                # which is fine: it was never acknowledged.
                if item.future.set_running_or_notify_cancel():
                    batch.append(item)
                    size += len(item.content)
                if len(batch) >= self.max_batch or size >= self.max_batch_bytes:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            try:
                results = store_batch(self.factory, batch)
            except IntegrityError:
                # Another process stored some of these bytes meanwhile: settle them one by one.
                results = [store_raw(self.factory, item.content, item.envelope) for item in batch]
        except StorageError as exc:
            self._fail(batch, exc)
            return
        except SQLAlchemyError as exc:
            self._fail(batch, StorageError(f"could not store messages: {exc.__class__.__name__}: {exc}"))
            return
        except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
            log.exception("group commit failed")
            self._fail(batch, StorageError(f"could not store messages: {exc!r}"))
            return
        self.batches += 1
        for item, result in zip(batch, results, strict=True):
            item.future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Pending], error: StorageError) -> None:
        log.error("could not store %d message(s): %s", len(batch), error)
        for item in batch:
            item.future.set_exception(error)
