"""An order-preserving process pool for independent per-file work (features, mini sources, mixtures).

Every job must be a picklable module-level function of one item whose result does not depend
on which process runs it (each job seeds its own random generator), so the output is the same
for any number of workers. Errors raised in a worker reach the caller unchanged (RsedError
pickles with its file and reason); workers die with a killed caller (Linux).
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow;
    ``os.cpu_count()`` counts the whole machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int | None, n_items: int) -> int:
    """``workers`` (default: every available core), at most one per item and at least one."""
    workers = available_cores() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return max(1, min(workers, n_items))


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies (Linux), or exit now if it is gone.

    A pool worker outlives a killed parent otherwise: it blocks forever on the task queue and
    holds the parent's stdout and stderr open, so whoever reads them waits forever too.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(parent: int) -> None:
    """Pool initialiser: die with the parent; one BLAS thread per worker, the pool supplies the parallelism."""
    _die_with(parent)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return
    threadpool_limits(1)


def ordered_map(func: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``func(item)`` for every item, yielded in the order given; in-process when ``workers`` is 1.

    At most ``2 * workers`` jobs are in flight, so results are consumed as they come (memory
    stays bounded for long lists of large arrays). The first failing job's exception is raised
    when its turn comes; pending jobs are cancelled.
    """
    if workers <= 1:
        for item in items:
            yield func(item)
        return
    # "spawn": workers start clean, never inheriting locks or threads (BLAS, TensorFlow) of the parent.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),))
    try:
        todo = iter(items)
        pending = collections.deque(pool.submit(func, item) for item in itertools.islice(todo, 2 * workers))
        while pending:
            result = pending.popleft().result()
            for following in itertools.islice(todo, 1):
                pending.append(pool.submit(func, following))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["available_cores", "ordered_map", "resolve_workers"]
