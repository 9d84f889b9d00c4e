"""The unit of work: one transaction, the repositories bound to it, the inbox and the outbox.

Every use case of every service changes state through a unit of work (cosmicpython's pattern):

    async with uow_factory() as uow:
        request = await uow.requests.get(request_id)
        ...
        await uow.emit([record])

Leaving the block without an exception commits the state, the inbox row and the outbox rows
together; an exception rolls all of them back. Each service subclasses `PgUnitOfWork` (adding
its repositories in `_bind`) and `FakeUnitOfWork` (the same repositories over in-memory
containers), so handler tests run without PostgreSQL; a contract suite runs the same tests
against both to keep the fake honest.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from shared.db import Conn
from shared.envelope import OutgoingRecord
from shared.inbox import Inbox
from shared.outbox import Outbox, traced

log = logging.getLogger(__name__)

# Something to do once a unit has committed, such as counting what it did (a metric).
AfterCommit = Callable[[], None]

T = TypeVar("T")


class UnitOfWork(Protocol):
    """What `shared.consuming` and every handler may rely on, real or fake."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A block inside the unit whose exception undoes only its own changes (a SAVEPOINT):
        a batch of records shares one unit, and one record's failure must not undo the rest."""
        ...

    async def claim(self, consumer: str, ce_id: UUID) -> bool:
        """Inbox: True the first time `consumer` applies `ce_id`, False for a duplicate."""
        ...

    async def claim_all(self, consumer: str, ce_ids: Sequence[UUID]) -> set[UUID]:
        """Inbox, for a batch in one go: the ids of `ce_ids` claimed now, the rest being
        duplicates. Only for events that will all be applied in this unit, or none."""
        ...

    async def emit(self, records: Sequence[OutgoingRecord]) -> None:
        """Outbox: queue records, published to Kafka once (and only if) this unit commits.
        Written when the unit (or the savepoint it was emitted in) ends: a unit's rows in
        one statement."""
        ...

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once this unit has committed; never if it rolls back, nor if the
        savepoint it was registered in is undone. A batch may be applied twice before it
        commits (shared.consuming), so what counts a fact must count it here, not as it goes."""
        ...

    async def redact_outbox(
        self, request_id: UUID, ce_types: Sequence[str], fields: Sequence[str]
    ) -> None:
        """Remove `fields` from this request's queued events of these types (an erasure)."""
        ...


class PgUnitOfWork:
    """One pooled connection and one transaction; subclasses bind repositories in `_bind`.

    A unit is used once: `async with` it, then drop it (factories make a fresh one per use)."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._inbox = Inbox(schema)
        self._outbox = Outbox(schema)
        self._conn: PoolConnectionProxy | None = None
        self._gathered: list[Gathered[Any]] = []
        self._tx: Transaction | None = None
        self._after_commit = _AfterCommit()
        # Emitted, not yet written: a batch's events go to the outbox in one statement.
        self._emitted = self.gathered(self._outbox.add)

    @property
    def conn(self) -> Conn:
        if self._conn is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._conn

    def _bind(self, conn: Conn) -> None:
        """Build the repositories on `conn`; the base unit has none."""

    async def __aenter__(self) -> Self:
        conn: PoolConnectionProxy = await self._pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._tx = conn, tx
        self._bind(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None or tx is None:
            return
        try:
            if exc_type is None:
                await self._commit(conn, tx)
            else:
                await tx.rollback()
        finally:
            for rows in self._gathered:
                rows.drop()
            await self._pool.release(conn)
        if exc_type is None:
            self._after_commit.run()

    async def _commit(self, conn: Conn, tx: Transaction) -> None:
        try:
            for rows in self._gathered:
                await rows.write(conn)
        except BaseException:
            # The unit's work is lost with its outbox rows: the caller hears why, and the
            # connection goes back to the pool out of its failed transaction.
            with contextlib.suppress(Exception):
                await tx.rollback()
            raise
        await tx.commit()

    def gathered(self, write: Callable[[Conn, Sequence[T]], Awaitable[None]]) -> Gathered[T]:
        """Rows for a repository to gather and `write` in one statement when the unit (or the
        savepoint they were gathered in) ends: one round trip for a batch's records."""
        rows = Gathered(write)
        self._gathered.append(rows)
        return rows

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        marks = [rows.mark() for rows in self._gathered]
        try:
            async with self._after_commit.undone_with(), self.conn.transaction():  # a SAVEPOINT
                yield
                # Inside the savepoint: a row a table refuses fails this block only.
                for rows, mark in zip(self._gathered, marks, strict=True):
                    await rows.write(self.conn, since=mark)
        except BaseException:
            for rows, mark in zip(self._gathered, marks, strict=True):
                rows.drop(since=mark)
            raise

    def after_commit(self, action: AfterCommit) -> None:
        self._after_commit.add(action)

    async def claim(self, consumer: str, ce_id: UUID) -> bool:
        return await self._inbox.claim(self.conn, consumer, ce_id)

    async def claim_all(self, consumer: str, ce_ids: Sequence[UUID]) -> set[UUID]:
        return await self._inbox.claim_all(self.conn, consumer, ce_ids)

    async def emit(self, records: Sequence[OutgoingRecord]) -> None:
        self.conn  # noqa: B018 - raises outside the block, as writing at once did
        self._emitted.add(traced(record) for record in records)

    async def redact_outbox(
        self, request_id: UUID, ce_types: Sequence[str], fields: Sequence[str]
    ) -> None:
        # Rows emitted earlier in this unit are redacted too: written first.
        await self._emitted.write(self.conn)
        await self._outbox.redact(self.conn, request_id, ce_types, fields)


@dataclass
class FakeStore:
    """The in-memory state a fake unit works on; services extend it with their own tables.

    Shared by every fake unit made from one factory, like the database behind the real ones."""

    inbox: set[tuple[str, UUID]] = field(default_factory=set)
    outbox: list[OutgoingRecord] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0


class FakeUnitOfWork:
    """The in-memory twin of `PgUnitOfWork`: changes made inside the block are kept on success
    and undone on an exception (the store is copied on entry and restored on rollback), so
    handler tests see the same all-or-nothing behaviour as with PostgreSQL.

    Fakes serialise units (one at a time), as the tests driving them do."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self._before: FakeStore | None = None
        self._after_commit = _AfterCommit()

    def _bind(self, store: FakeStore) -> None:
        """Build the fake repositories on `store`; the base unit has none."""

    async def __aenter__(self) -> Self:
        self._before = copy.deepcopy(self.store)
        self._bind(self.store)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        before, self._before = self._before, None
        if before is None:
            return
        if exc_type is None:
            self.store.commits += 1
            self._after_commit.run()
            return
        _restore(self.store, before)
        self.store.rollbacks += 1

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        before = copy.deepcopy(self.store)
        try:
            async with self._after_commit.undone_with():
                yield
        except BaseException:
            _restore(self.store, before)
            raise

    def after_commit(self, action: AfterCommit) -> None:
        self._after_commit.add(action)

    async def claim(self, consumer: str, ce_id: UUID) -> bool:
        if (consumer, ce_id) in self.store.inbox:
            return False
        self.store.inbox.add((consumer, ce_id))
        return True

    async def claim_all(self, consumer: str, ce_ids: Sequence[UUID]) -> set[UUID]:
        return {ce_id for ce_id in ce_ids if await self.claim(consumer, ce_id)}

    async def emit(self, records: Sequence[OutgoingRecord]) -> None:
        self.store.outbox.extend(records)

    async def redact_outbox(
        self, request_id: UUID, ce_types: Sequence[str], fields: Sequence[str]
    ) -> None:
        # Rows are found by their Kafka key, the request id, as shared.outbox.Outbox.redact does.
        key = str(request_id).encode()
        for n, record in enumerate(self.store.outbox):
            if record.key == key and record.headers.get("ce_type") in ce_types:
                data = {k: v for k, v in json.loads(record.value).items() if k not in fields}
                self.store.outbox[n] = dataclasses.replace(record, value=json.dumps(data).encode())


class Gathered(Generic[T]):
    """Rows gathered during a unit of work, written together (see PgUnitOfWork.gathered)."""

    def __init__(self, write: Callable[[Conn, Sequence[T]], Awaitable[None]]) -> None:
        self._write = write
        self._rows: list[T] = []

    def add(self, rows: Iterable[T]) -> None:
        self._rows.extend(rows)

    def mark(self) -> int:
        return len(self._rows)

    def drop(self, since: int = 0) -> None:
        del self._rows[since:]

    async def write(self, conn: Conn, since: int = 0) -> None:
        """Write the rows gathered since `mark` (all by default), now."""
        rows = self._rows[since:]
        del self._rows[since:]
        if rows:
            await self._write(conn, rows)


class _AfterCommit:
    """The actions a unit runs once it has committed, real or fake."""

    def __init__(self) -> None:
        self._actions: list[AfterCommit] = []

    def add(self, action: AfterCommit) -> None:
        self._actions.append(action)

    @asynccontextmanager
    async def undone_with(self) -> AsyncIterator[None]:
        """A savepoint's block: the actions it added are dropped if it fails."""
        mark = len(self._actions)
        try:
            yield
        except BaseException:
            del self._actions[mark:]
            raise

    def run(self) -> None:
        actions, self._actions = self._actions, []
        for action in actions:
            try:
                action()
            except Exception:  # the unit is committed: a failed count must not undo that
                log.exception("an action after the commit failed")


def _restore(store: FakeStore, before: FakeStore) -> None:
    # In place: repositories and tests hold references to the store object itself.
    counts = store.commits, store.rollbacks
    for name in vars(before):
        setattr(store, name, getattr(before, name))
    store.commits, store.rollbacks = counts
