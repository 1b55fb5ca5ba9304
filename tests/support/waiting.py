"""Waiting for something that happens on another thread, process or server: poll until it holds,
fail naming what did not happen."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(check: Callable[[], Awaitable[T]], what: str, *, within: float = ..., every: float = ...) -> T: ...


@overload
async def eventually(check: Callable[[], T], what: str, *, within: float = ..., every: float = ...) -> T: ...


async def eventually(
    check: Callable[[], T] | Callable[[], Awaitable[T]], what: str, *, within: float = 10, every: float = 0.05
) -> T:
    """Call ``check`` (plain or async) every ``every`` seconds until it returns something truthy,
    and return that; an ``AssertionError`` naming ``what`` if it has not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(every)


def wait_until(
    read: Callable[[], T], done: Callable[[T], bool], what: str, *, within: float = 60, every: float = 0.3
) -> T:
    """Blocking: call ``read`` every ``every`` seconds until ``done`` holds for what it returned, and
    return that value; an ``AssertionError`` naming ``what`` and the last value after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(every)
