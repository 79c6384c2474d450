"""Where the blocks of a scan and a review run: in this process (``local``) or as Ray tasks (``ray``).

An engine maps a module-level function over blocks of work and returns the results in the blocks' order, so
the caller assembles the same output whichever engine ran it (``busi-curate scan --engine ray`` writes the same
bytes as ``--engine local``). Engines are registered by name in :data:`ENGINES`; :func:`open_engine` builds one.

Example::

    from busi_curate.engine import open_engine

    def scaled(factor: float, block: list[int]) -> list[float]:   # module level: Ray pickles it by name
        return [factor * x for x in block]

    with open_engine("local") as engine:
        list(engine.map(scaled, [[1, 2], [3]], shared=0.5))      # [[0.5, 1.0], [1.5]]

``shared`` is sent once per :meth:`Engine.map` call (Ray: one object in the object store that every task
reads); :meth:`Engine.share` sends it once for several calls. Ray is imported only by the ``ray`` engine: the
curation half imports this module without it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from busi_curate.errors import CurateError, MissingExtraError

S = TypeVar("S")
B = TypeVar("B")
R = TypeVar("R")
T = TypeVar("T")

Tick = Callable[[int], object]
DEFAULT_ENGINE = "local"


class Shared(Generic[S]):
    """A value sent once to the engine's workers (:meth:`Engine.share`); pass it as ``shared`` to :meth:`Engine.map`."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle


class Engine:
    """Runs ``fn(shared, block)`` for each block; subclasses implement :meth:`map`.

    Attributes:
        name: the registry name.
        workers: how many blocks run at once (``local``: 1, this process, whose own code may use threads).
    """

    name: ClassVar[str] = "abstract"
    workers: int = 1

    def share(self, value: S) -> Shared[S]:
        """``value`` sent once, for several :meth:`map` calls."""
        return Shared(value)

    def map(
        self,
        fn: Callable[[S, B], R],
        blocks: Iterable[B],
        shared: S | Shared[S],
        progress: Tick | None = None,
    ) -> Iterator[R]:
        """``fn(shared, block)`` for every block, yielded in the blocks' order; ``progress(1)`` after each."""
        raise NotImplementedError

    def map_items(
        self,
        fn: Callable[[S, Sequence[T]], list[R]],
        items: Sequence[T],
        size: int,
        shared: S | Shared[S],
        progress: Tick | None = None,
    ) -> list[R]:
        """``fn(shared, block)`` over ``items`` cut into blocks of ``size``, the results joined in order;
        ``progress(len(block))`` after each block."""
        out: list[R] = []
        for part in self.map(fn, [items[s : s + size] for s in range(0, len(items), max(1, size))], shared):
            out += part
            if progress is not None:
                progress(len(part))
        return out

    def describe(self) -> dict[str, Any]:
        """What ran the work, for an output's sidecar (``scan.json``'s ``engine``)."""
        return {"name": self.name, "workers": self.workers}

    def close(self) -> None:
        """Release what the engine started (a local Ray instance)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEngine(Engine):
    """Every block in this process, one after the other (the code of a block keeps its own threads)."""

    name = "local"

    def map(
        self,
        fn: Callable[[S, B], R],
        blocks: Iterable[B],
        shared: S | Shared[S],
        progress: Tick | None = None,
    ) -> Iterator[R]:
        value = shared.handle if isinstance(shared, Shared) else shared
        for block in blocks:
            out = fn(value, block)
            if progress is not None:
                progress(1)
            yield out


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError(
            "--engine ray needs Ray: pip install 'busi-curate[grid]' (or ray) on this machine and every worker"
        ) from exc
    return ray


def _run_block(fn: Callable[[S, B], R], shared: S, block: B) -> R:
    """One Ray task: ``fn(shared, block)`` on one core (numba's kernels would otherwise use every core of the
    node in every task)."""
    import numba

    numba.set_num_threads(1)
    return fn(shared, block)


class RayEngine(Engine):
    """Blocks as Ray tasks of one CPU each, at most ``4 x workers`` in flight; results in the blocks' order.

    Args:
        address: a running cluster (``ray start --head`` prints it; ``auto`` finds a local one). None starts a
            local instance of ``num_cpus`` CPUs (default: every core), shut down by :meth:`close`.
        num_cpus: CPUs of a local instance.

    Every node must have this version of busi-curate installed and see the data and scan folders at the same
    paths (a shared filesystem): tasks read the images by path.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        ray = _ray()
        self._ray = ray
        self.address = address
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count() or 1}
            try:
                ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise CurateError(f"cannot start or reach Ray ({address or 'local instance'}): {exc}") from exc
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1)(_run_block)

    def share(self, value: S) -> Shared[S]:
        return Shared(self._ray.put(value))

    def map(
        self,
        fn: Callable[[S, B], R],
        blocks: Iterable[B],
        shared: S | Shared[S],
        progress: Tick | None = None,
    ) -> Iterator[R]:
        ref = (shared if isinstance(shared, Shared) else self.share(shared)).handle
        todo = iter(blocks)
        pending: deque[Any] = deque()
        window = 4 * self.workers

        def submit() -> None:
            for block in todo:
                pending.append(self._remote.remote(fn, ref, block))
                if len(pending) >= window:
                    return

        submit()
        while pending:
            out = self._get(pending.popleft())
            submit()
            if progress is not None:
                progress(1)
            yield out

    def _get(self, ref: Any) -> Any:
        """The task's result; a project error raised in the task is raised here as itself (one line at the CLI)."""
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, CurateError):
                raise cause from None
            raise

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers, "address": self.address or "local instance"}

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


#: engine name -> class; one class and one line to add one (``--engine`` lists these).
ENGINES: dict[str, type[Engine]] = {"local": LocalEngine, "ray": RayEngine}


def open_engine(name: str = DEFAULT_ENGINE, address: str | None = None, num_cpus: int | None = None) -> Engine:
    """The engine ``name`` of :data:`ENGINES`; ``address`` / ``num_cpus`` only for ``ray``.

    Raises:
        CurateError: unknown name, or ``address`` given to an engine that runs here.
        MissingExtraError: ``ray`` without Ray installed.
    """
    if name not in ENGINES:
        raise CurateError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    if name == "ray":
        return RayEngine(address=address, num_cpus=num_cpus)
    if address is not None:
        raise CurateError(f"--address is for --engine ray, not --engine {name}")
    return ENGINES[name]()
