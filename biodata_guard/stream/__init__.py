"""One pass over a feature matrix, shared by every check that needs per-chunk statistics.

A streaming statistic is an *accumulator*: ``task()`` names a module-level function and its
(small) arguments that compute what one row block contributes -- a pure function of the block,
so it can run on a Dask worker -- and ``absorb(start, stop, part)`` folds that contribution into
the totals. Parts are always absorbed in row order, so the result does not depend on the engine
or on how many workers computed the parts. A task whose kwargs hold a ``request``
(:class:`biodata_guard.stream._fused.Request`) gets the compiled kernel's statistics of the
block instead of the block (:mod:`biodata_guard.stream._kernel`): the requests of every
accumulator are merged, so one loop over each block's stored values serves them all.

:func:`shared_pass` feeds several accumulators from one read of the matrix and memoises them on
the view; a check asks for its statistic with :func:`accumulate`, which reuses the memo (the
audit ran the shared pass) or, when the check is called on its own, makes its own pass.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from biodata_guard.errors import GuardError
from biodata_guard.io.matrix import READ_ERRORS, MatrixView, unreadable_rows
from biodata_guard.stream._fused import block_stats, merge

#: Row blocks a Dask engine keeps in flight per worker (bounds the client's memory).
_BLOCKS_PER_WORKER = 2

#: Threads that compute a block's row ranges in the compiled kernel (it releases the GIL), and
#: that other parallel loops (the probe's folds) use; blocks are read on one more thread and
#: the parts absorbed in row order on the caller's.
WORKERS = 2


class Accumulator(Protocol):
    """What :func:`shared_pass` needs of a streaming statistic."""

    def task(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """``(fn, kwargs)``: ``fn(block, start, stop, **kwargs)`` is the part of rows
        ``start:stop`` (a picklable module-level function: it may run on a Dask worker)."""
        ...

    def absorb(self, start: int, stop: int, part: Any) -> None:
        """Fold the part of rows ``start:stop`` into the totals."""
        ...


def accumulate(
    view: MatrixView,
    key: Hashable,
    make: Callable[[], Accumulator],
    *,
    chunk_size: int,
) -> Any:
    """The accumulator ``key`` of ``view``: from the shared pass when it ran, else by one pass
    of its own (``make()`` builds it)."""
    if key not in view.memo:
        shared_pass(view, {key: make()}, chunk_size=chunk_size)
    return view.memo[key]


def shared_pass(
    view: MatrixView,
    accumulators: Mapping[Hashable, Accumulator],
    *,
    chunk_size: int,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Read ``view`` once, in row blocks, feeding every accumulator not yet in ``view.memo``.

    ``progress(rows_done, n_rows)`` is called after each block. On a Dask-backed view the
    parts are computed where the blocks live (a ``dask.distributed`` cluster when a client is
    active) and absorbed here in row order.
    """
    todo = {k: acc for k, acc in accumulators.items() if k not in view.memo}
    if not todo:
        return
    tasks = [acc.task() for acc in todo.values()]
    for start, stop, parts in _parts(view, tasks, chunk_size):
        for acc, part in zip(todo.values(), parts, strict=True):
            acc.absorb(start, stop, part)
        if progress is not None:
            progress(stop, view.n_obs)
    view.memo.update(todo)


def run_tasks(
    block: Any, start: int, stop: int, tasks: list[tuple[Callable[..., Any], dict[str, Any]]]
) -> list[Any]:
    """Every task's part of one block (one read of the block for all of them). Tasks whose
    kwargs hold a ``request`` get the compiled kernel's statistics instead of the block: the
    requests are merged, so the kernel runs once per block for all of them."""
    if hasattr(block, "compute"):
        block = block.compute()
    block = sp.csr_matrix(block) if sp.issparse(block) else np.asarray(block)
    requests = [kwargs.get("request") for _, kwargs in tasks]
    runs, which = merge([r for r in requests if r is not None])
    stats = [block_stats(block, start, r, workers=_workers()) for r in runs]
    out, k = [], 0
    for (fn, kwargs), request in zip(tasks, requests, strict=True):
        if request is None:
            out.append(fn(block, start, stop, **kwargs))
            continue
        rest = {key: v for key, v in kwargs.items() if key != "request"}
        out.append(fn(stats[which[k]], start, stop, **rest))
        k += 1
    return out


def _parts(
    view: MatrixView, tasks: list[tuple[Callable[..., Any], dict[str, Any]]], chunk_size: int
) -> Iterator[tuple[int, int, list[Any]]]:
    if is_dask(view.X):
        yield from _dask_parts(view.X, tasks, view.name)
        return

    # the next block is read while this one is computed (its row slices on WORKERS threads):
    # two blocks in memory at most
    for start, stop, block in prefetch(view.iter_chunks(chunk_size)):
        yield start, stop, run_tasks(block, start, stop, tasks)
        del block


def prefetch(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, each next one produced on a thread while the caller works on the current
    one (reading from disk overlaps computing); exceptions surface in order."""
    end = object()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, items, end)
        while True:
            item = pending.result()
            if item is end:
                return
            pending = pool.submit(next, items, end)
            yield item
            del item


def _workers() -> int:
    return max(1, min(WORKERS, os.cpu_count() or 1))


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """``fn`` over ``items`` on up to :data:`WORKERS` threads (the sparse products and ufuncs
    release the GIL), at most one item queued ahead per thread; results in item order, so every
    sum is accumulated in the same order on any machine."""
    workers = min(WORKERS, os.cpu_count() or 1)
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def is_dask(X: Any) -> bool:
    """True for a ``dask.array.Array`` (without importing dask when it is not one)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "to_delayed")


def _dask_parts(
    X: Any, tasks: list[tuple[Callable[..., Any], dict[str, Any]]], name: str
) -> Iterator[tuple[int, int, list[Any]]]:
    import dask

    blocks = X.to_delayed().ravel()  # row blocks: the engine chunks rows only
    bounds = np.concatenate([[0], np.cumsum(X.chunks[0])])
    shared = dask.delayed(tasks, traverse=False)  # one copy of the task arguments in the graph
    window = max(1, _BLOCKS_PER_WORKER * _n_workers())
    for first in range(0, len(blocks), window):
        last = min(len(blocks), first + window)
        try:
            parts = dask.compute(
                *[
                    dask.delayed(run_tasks)(blocks[i], int(bounds[i]), int(bounds[i + 1]), shared)
                    for i in range(first, last)
                ]
            )
        except GuardError:
            raise
        except READ_ERRORS as exc:  # a worker could not read its block: as in MatrixView.rows
            raise unreadable_rows(name, slice(int(bounds[first]), int(bounds[last])), exc) from None
        for i, part in zip(range(first, last), parts, strict=True):
            yield int(bounds[i]), int(bounds[i + 1]), part


def _n_workers() -> int:
    try:
        from distributed import get_client

        return max(1, len(get_client().scheduler_info().get("workers", {})))
    except (ImportError, ValueError):
        return 1
