"""Where the groups' secure rounds run: in this process, or in Ray worker processes.

A job is any picklable zero-argument callable (one group's whole simulated secure round); an
executor runs a batch of them and yields their results as they finish. Jobs carry the group's
inputs and plan, never key material: each worker draws its crypto randomness from the OS CSPRNG.
Ray is a simulation engine here (the parent and its workers are one trust domain); in a
deployment each group is its own Flower run (docs/grouped.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from secagg.errors import ConfigError

T = TypeVar("T")


class GroupExecutor(Protocol):
    """Runs jobs, yields results in completion order; ``workers`` is how many run at once."""

    name: str
    workers: int

    def map_unordered(self, jobs: Sequence[Callable[[], T]]) -> Iterator[T]: ...

    def warm_up(self) -> None: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """One job after another in this process (the default, and what the fast tests use)."""

    name = "inprocess"
    workers = 1

    def map_unordered(self, jobs: Sequence[Callable[[], T]]) -> Iterator[T]:
        """Each job's result, in order."""
        for job in jobs:
            yield job()

    def warm_up(self) -> None:
        """Load the compiled kernels once, before anything is timed."""
        _warm_up()

    def close(self) -> None:
        """Nothing to stop."""


class RayExecutor:
    """``workers`` Ray actors, one process each, each job on one of them.

    Starts Ray (``num_cpus=workers``) on first use unless it is already running, and
    :meth:`close` shuts down only what it started. ``pin_cores`` sets each worker's CPU affinity
    to one core (round robin), so the library's mask threads stay on that core and one worker
    is one core's worth of work: what a groups-per-second-per-worker figure should mean."""

    name = "ray"

    def __init__(self, workers: int = 2, *, pin_cores: bool = True) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be an int >= 1, got {workers!r}")
        self.workers = workers
        self.pin_cores = pin_cores
        self._actors: list[Any] = []
        self._owns_ray = False

    def _start(self) -> list[Any]:
        if self._actors:
            return self._actors
        try:
            import ray  # noqa: PLC0415 - optional: the flower extra installs it
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("executor='ray' needs Ray: pip install 'secagg[flower]'") from exc
        if not ray.is_initialized():
            os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # we use no GPUs
            ray.init(num_cpus=self.workers, include_dashboard=False, logging_level=logging.ERROR,
                     configure_logging=False)
            self._owns_ray = True
        actor = ray.remote(num_cpus=1)(_Worker)
        self._actors = [actor.remote(i, self.pin_cores) for i in range(self.workers)]
        ray.get([a.ready.remote() for a in self._actors])
        return self._actors

    def map_unordered(self, jobs: Sequence[Callable[[], T]]) -> Iterator[T]:
        """Each job on the next free worker; results as they finish."""
        from ray.util import ActorPool  # noqa: PLC0415

        pool = ActorPool(self._start())
        yield from pool.map_unordered(lambda actor, job: actor.run.remote(job), list(jobs))

    def warm_up(self) -> None:
        """Start the workers and load the compiled kernels in each, before anything is timed."""
        import ray  # noqa: PLC0415

        ray.get([a.warm_up.remote() for a in self._start()])

    def describe(self) -> list[dict[str, Any]]:
        """Each worker's pid and the CPUs it may run on."""
        import ray  # noqa: PLC0415

        return list(ray.get([a.ready.remote() for a in self._start()]))

    def close(self) -> None:
        """Stop the workers, and Ray itself if this executor started it."""
        if not self._actors and not self._owns_ray:
            return
        import ray  # noqa: PLC0415

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False


class _Worker:
    """The body of one Ray actor: optionally pinned to one core, runs jobs."""

    def __init__(self, index: int, pin: bool) -> None:
        if pin and hasattr(os, "sched_setaffinity"):
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpus[index % len(cpus)]})

    def ready(self) -> dict[str, Any]:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return {"pid": os.getpid(), "cpus": cpus}

    def warm_up(self) -> None:
        _warm_up()

    def run(self, job: Callable[[], T]) -> T:
        return job()


def _warm_up() -> None:
    from protocols.secagg import warm_up  # noqa: PLC0415 - loads the crypto on use

    warm_up()


def make_executor(executor: str | GroupExecutor, workers: int) -> GroupExecutor:
    """``"inprocess"`` | ``"ray"`` (with ``workers``), or an executor object as it is."""
    if executor == "inprocess":
        if workers != 1:
            raise ConfigError(f"workers applies to executor='ray'; the in-process executor runs "
                              f"one group at a time, got workers={workers!r}")
        return InProcessExecutor()
    if executor == "ray":
        return RayExecutor(workers)
    if isinstance(executor, str) or not callable(getattr(executor, "map_unordered", None)):
        raise ConfigError(f"executor must be 'inprocess', 'ray' or an executor object, "
                          f"got {executor!r}")
    return executor


__all__ = ["GroupExecutor", "InProcessExecutor", "RayExecutor", "make_executor"]
