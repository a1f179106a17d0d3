"""Claims from an event loop to Redis, batched: one ``claim.lua`` call per stock at a time.

A claim submitted while its stock's previous call is in flight waits for it and then leaves in
the next call, with every claim that arrived meanwhile (up to ``max_batch``). With no load a
claim leaves on the next turn of the loop, alone; under load the batches grow by themselves,
with no timer, as in the SQLite store's group commit. The script admits the claims of one call
in order, each checking every counter (as the claims before it left them) before the call's
first write (see ``lua/claim.lua``), so a batch is exactly its claims run one after the other.

Commands are packed by hiredis: redis-py's asyncio packer is Python, ~0.6 µs per argument,
and a batch has hundreds. A failure of a call (connection lost, script error) fails every claim
of that call; the claims may still have been applied (a reply lost after the script ran), which
is the ordinary ambiguity of a timeout: a retry under the same request id gets the first outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any

import hiredis
import redis
import redis.asyncio

from engine.errors import InvariantBroken, StoreUnavailable

_Pending = tuple[list[object], "asyncio.Future[Any]"]


class HiredisPackedConnection(redis.asyncio.Connection):
    """A redis.asyncio connection whose commands are packed by hiredis (C)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": one word per argument
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]


class AsyncScripts:
    """The store's scripts over one redis.asyncio client, for the event loop that made it."""

    def __init__(self, url: str, sources: dict[str, str], max_batch: int = 128) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch = {max_batch}: expected >= 1")
        self.loop = asyncio.get_running_loop()
        pool = redis.asyncio.ConnectionPool.from_url(
            url, decode_responses=True, connection_class=HiredisPackedConnection
        )
        self._pool = pool
        self._client = redis.asyncio.Redis(connection_pool=pool)
        self._scripts = {name: self._client.register_script(text) for name, text in sources.items()}
        self._max_batch = max_batch
        self._waiting: dict[Hashable, list[_Pending]] = {}  # batch key -> claims not yet sent
        self._senders: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        self.calls = 0  # claim script calls made (for tests and measurement)

    async def run(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        """One script call; a script error is :class:`InvariantBroken`, others 503."""
        try:
            return await self._scripts[name](keys=list(keys), args=list(args))  # type: ignore[arg-type]
        except redis.ResponseError as error:
            raise InvariantBroken(f"Redis script {name} failed: {error}") from error
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailable(f"Redis script {name} failed: {error}") from error

    def claim(
        self,
        batch_key: Hashable,
        keys: Sequence[str],
        stock_args: Sequence[object],
        fields: list[object],
    ) -> asyncio.Future[Any]:
        """The reply of ``claim.lua`` to one claim (``fields``), sent in the next call for its
        ``batch_key`` (its stock and whatever else fixes ``keys`` and ``stock_args``)."""
        future: asyncio.Future[Any] = self.loop.create_future()
        waiting = self._waiting.get(batch_key)
        if waiting is not None:
            waiting.append((fields, future))
        else:
            self._waiting[batch_key] = [(fields, future)]
            sender = self.loop.create_task(self._send(batch_key, keys, stock_args))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        return future

    async def _send(
        self, batch_key: Hashable, keys: Sequence[str], stock_args: Sequence[object]
    ) -> None:
        """Send the waiting claims of ``batch_key``, one call at a time, until none is left."""
        waiting = self._waiting[batch_key]
        try:
            while waiting:
                batch = waiting[: self._max_batch]
                del waiting[: self._max_batch]
                await self._call(keys, stock_args, batch)
        finally:  # no await between the last check and here: no claim can slip in unsent
            del self._waiting[batch_key]
            _settle(waiting, StoreUnavailable("the Redis store is closing"))  # if cancelled

    async def _call(
        self, keys: Sequence[str], stock_args: Sequence[object], batch: list[_Pending]
    ) -> None:
        """One script call for ``batch``; every future gets its reply or the call's error."""
        args = list(stock_args)
        for fields, _ in batch:
            args += fields
        self.calls += 1
        outcome: list[Any] | BaseException
        try:
            outcome = await self.run("claim", keys, args)
            if not isinstance(outcome, list) or len(outcome) != len(batch):
                outcome = InvariantBroken(
                    f"claim.lua answered {len(batch)} claims with {outcome!r}"
                )
        except Exception as error:
            outcome = error
        except BaseException:  # cancelled (shutdown): answer, then let it through
            _settle(batch, StoreUnavailable("the Redis store is closing"))
            raise
        _settle(batch, outcome)

    async def aclose(self) -> None:
        """Close the client and every connection of its pool."""
        await self._client.aclose()
        await self._pool.disconnect()


def _settle(batch: list[_Pending], outcome: list[Any] | BaseException) -> None:
    """Each claim's reply, or the call's error for all (a cancelled future is left alone)."""
    for index, (_, future) in enumerate(batch):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])
