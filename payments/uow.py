"""The unit of work: one explicit database transaction per use case.

    async with UnitOfWork(db) as uow:
        ...                      # use uow.session
        await uow.commit()       # leaving without commit rolls back

A use case that moves money commits itself before it returns, so the web layer never builds a
response for a write that has not been made durable.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import READONLY, Database


class UnitOfWork:
    def __init__(self, db: Database, *, readonly: bool = False) -> None:
        self.db = db
        self.readonly = readonly
        self._session: AsyncSession | None = None
        self._committed = False
        self._holds_write_lock = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        if self.db.write_lock is not None and not self.readonly:
            # SQLite has one writer at a time; queue here rather than in its busy handler.
            await self.db.write_lock.acquire()
            self._holds_write_lock = True
        bind = self.db.engine.execution_options(**{READONLY: True}) if self.readonly else None
        self._session = AsyncSession(bind=bind or self.db.engine, expire_on_commit=False)
        try:
            await self._session.begin()
            if self.readonly and self.db.is_postgres:
                await self._session.connection(execution_options={"postgresql_readonly": True})
        except BaseException:
            await self._release()
            raise
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # close() alone ends a read-only transaction and keeps loaded rows readable;
            # rollback() would expire them.
            if not self._committed and not self.readonly:
                await self.session.rollback()
        finally:
            await self._release()

    async def _release(self) -> None:
        try:
            if self._session is not None:
                await self._session.close()
        finally:
            self._session = None
            if self._holds_write_lock and self.db.write_lock is not None:
                self.db.write_lock.release()
                self._holds_write_lock = False
