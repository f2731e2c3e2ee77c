"""Fleet evaluation: many bags, each through the same offline evaluation as `depth-ros-eval BAG`, run
one after the other in this process or in parallel on Ray workers (a local instance or a cluster).

Both paths call `BagWorker.run` for each bag. A worker keeps every model it loaded for its next bag
(one load per worker, not per bag) and a fresh pipeline per bag; it writes the bag's report folder
into memory and sends back only the summary, the per-frame metrics and those files (a few sample
PNGs), never the images it evaluated. Each bag runs on `threads` CPU threads (inference, OpenCV,
OpenMP/BLAS), the same number on every path, so the numbers do not depend on where a bag ran: the
in-process run is the reference the Ray run must match exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import socket
import sys
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from depth_ros.bags.io import open_bag
from depth_ros.core.errors import BagError, DepthRosError
from depth_ros.datasets.world_bags import WORLD_FILE
from depth_ros.evaluation.replay import gt_function, iterate_offline, node_values, pick_topics
from depth_ros.evaluation.report import write_report
from depth_ros.evaluation.run import ErrorCounter, report_context
from depth_ros.evaluation.scoring import FrameEvaluator
from depth_ros.optional import ray_module
from depth_ros.ros.params import DepthNodeConfig
from depth_ros.ros.pipeline_factory import build_pipeline

BAG_SUFFIXES = (".mcap", ".db3", ".bag")
# Thread pools that read their size from the environment when their library loads (Ray workers get these).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")
RAY_FEATURE = "evaluating several bags on Ray (or pass --no-ray)"


@dataclass(frozen=True)
class BagJob:
    """One bag of a fleet: its place in the input order, its path and the evaluation options."""

    index: int
    bag: str
    args: argparse.Namespace


@dataclass
class BagOutcome:
    """What travels back from a worker for one bag: metrics and the report files, or the reason it failed."""

    index: int
    bag: str
    tag: str | None = None
    summary: dict[str, Any] | None = None
    frame_metrics: list[dict[str, dict[str, float]]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""  # host:pid of the process that evaluated it
    loaded_model: bool = False  # this bag loaded its model (the worker's first bag with that model)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class FleetRun:
    """The outcomes of a fleet in input order, and how they were computed. `seconds`: from the first bag
    handed out to the last outcome (on Ray: starting the workers included, ray.init() and shutdown not)."""

    outcomes: list[BagOutcome]
    engine: str
    workers: int
    threads: int
    seconds: float
    startup_seconds: float = 0.0  # ray.init() when this run started or joined the instance; 0 in process


def expand_bags(bags: list[str], patterns: list[str]) -> list[str]:
    """The bags named, then those each glob matches (bag directories and .mcap/.db3/.bag files, sorted);
    each path once, in that order. Raises DepthRosError when a glob matches no bag."""
    out = list(bags)
    for pattern in patterns:
        hits = sorted(p for p in glob.glob(os.path.expanduser(pattern))
                      if Path(p).is_dir() or Path(p).suffix in BAG_SUFFIXES)
        if not hits:
            raise DepthRosError(f"--bags {pattern!r} matches no bag (a rosbag2 folder or a .mcap/.db3/.bag file)")
        out += hits
    if not out:
        raise DepthRosError("no bag to evaluate: give BAG paths or --bags GLOB")
    return list(dict.fromkeys(out))


def bag_tag(bag: Path) -> str | None:
    """The scene (or `tag`) of the world.yaml that depth-ros-simulate wrote beside this bag, if any."""
    path = bag.parent / WORLD_FILE
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or Path(str(data.get("bag", ""))).name != bag.name:
        return None  # a world.yaml of another bag in the same folder
    tag = data.get("tag") or data.get("scene") or data.get("source")
    return str(tag) if tag else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    reason = text[0] if text else ""
    return reason if isinstance(exc, DepthRosError) else f"{type(exc).__name__}: {reason}".rstrip(": ")


class BagWorker:
    """Evaluates bags one at a time and keeps each model it loads for the next bag."""

    def __init__(self) -> None:
        self.models: dict[tuple, Any] = {}
        self.loaded_model = False
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, job: BagJob) -> BagOutcome:
        """The outcome of one bag; any error of the bag becomes its outcome's one-line reason."""
        started = time.perf_counter()
        bag = Path(job.bag)
        outcome = BagOutcome(job.index, job.bag, tag=bag_tag(bag), worker=self.name)
        self.loaded_model = False
        try:
            evaluation, context = self._evaluate(bag, job.args)
            with tempfile.TemporaryDirectory(prefix="depth_ros_fleet_") as tmp:
                outcome.summary = write_report(Path(tmp), evaluation, context, None)
                outcome.files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
            outcome.frame_metrics = [f.metrics for f in evaluation.frames]
        except Exception as exc:  # a bag's failure is its row's; the other bags go on
            outcome.error = _one_line(exc)
            outcome.summary, outcome.files = None, {}
        outcome.seconds, outcome.loaded_model = time.perf_counter() - started, self.loaded_model
        return outcome

    def _evaluate(self, bag_path: Path, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
        """The offline evaluation of run_evaluation (same topics, parameters, pipeline, scoring)."""
        with open_bag(bag_path) as bag:
            topics = pick_topics(bag.topics, args)
            if topics.gt is None:
                raise BagError(f"{bag_path}: no ground-truth depth topic; pass --gt-topic or --gt-lidar")
            node, values, params_file = node_values(args, bag_path, topics)
            errors = ErrorCounter()
            key = _model_key(values)
            pipeline, feeder = build_pipeline(values, errors, model=self.models.get(key))
            self.loaded_model = key not in self.models
            self.models.setdefault(key, pipeline.model)
            evaluator = FrameEvaluator(args.samples, bag.topics[topics.image].count)
            gt_fn = gt_function(topics, tuple(args.gt_lidar_extrinsic))
            for frame, result, gt in iterate_offline(bag, topics, feeder, gt_fn, args.max_frames, _NoProgress()):
                evaluator.add(frame, result, gt)
        offline = evaluator.result
        offline.errors = errors.counts
        if not offline.frames:
            raise DepthRosError(f"{bag_path}: no frame had both an image and ground truth; nothing was evaluated")
        return offline, report_context(args, bag_path, topics, node, values, params_file)

    def close(self) -> None:
        """Close the models kept."""
        for model in self.models.values():
            with contextlib.suppress(Exception):
                model.close()
        self.models.clear()


class RemoteBagWorker(BagWorker):
    """A BagWorker in a Ray worker process: pins the process to `threads` CPU threads first."""

    def __init__(self, threads: int) -> None:
        set_thread_limit(threads)
        super().__init__()


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass


def _model_key(values: dict[str, Any]) -> tuple:
    node = DepthNodeConfig.from_values(values)
    return (node.model, node.model_path, node.device, node.fp16, node.num_threads, node.input_width, node.input_height)


def set_thread_limit(threads: int) -> int:
    """Cap OpenCV (and torch, when loaded) at `threads` threads; returns OpenCV's previous count."""
    import cv2  # noqa: PLC0415

    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return previous


@contextlib.contextmanager
def _thread_limit(threads: int) -> Iterator[None]:
    previous = set_thread_limit(threads)
    try:
        yield
    finally:
        import cv2  # noqa: PLC0415

        cv2.setNumThreads(previous)


def fleet_args(args: argparse.Namespace, threads: int) -> argparse.Namespace:
    """The options every bag is evaluated with: `args`, with inference on `threads` threads unless a
    `-p num_threads:=N` says otherwise."""
    params = list(args.param)
    if not any(p.partition(":=")[0].strip() == "num_threads" for p in params):
        params.append(f"num_threads:={threads}")
    return argparse.Namespace(**{**vars(args), "param": params, "bag": None, "bag_list": [], "bags": [],
                                 "live": False, "map": False, "output_bag": None})


def run_in_process(jobs: list[BagJob], threads: int, on_outcome: Callable[[BagOutcome], None]) -> FleetRun:
    """Evaluate the jobs one after the other in this process, with one worker (one model load)."""
    started = time.perf_counter()
    worker = BagWorker()
    outcomes = []
    try:
        with _thread_limit(threads):
            for job in jobs:
                outcomes.append(worker.run(job))
                on_outcome(outcomes[-1])
    finally:
        worker.close()
    return FleetRun(outcomes, "in-process", 1, threads, time.perf_counter() - started)


def run_on_ray(jobs: list[BagJob], threads: int, workers: int | None, address: str | None,
               on_outcome: Callable[[BagOutcome], None]) -> FleetRun:
    """Evaluate the jobs on Ray actors, each a BagWorker pinned to `threads` CPUs.

    Joins the Ray instance of this process when there is one; else `ray.init(address)` (None: a new
    local instance, which is shut down at the end). `workers` defaults to the instance's CPUs / threads.
    """
    ray = ray_module(RAY_FEATURE)
    started = time.perf_counter()
    owned = not ray.is_initialized()
    local = owned and address is None
    if owned:
        # A local instance's workers inherit this environment: the thread limits need no runtime
        # environment then (whose set-up costs each worker seconds of start-up).
        saved = {name: os.environ.get(name) for name in THREAD_ENV}
        if local:
            os.environ.update({name: str(threads) for name in THREAD_ENV})
        try:
            _ray_init(ray, address, (workers or 0) * threads)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    dispatched = time.perf_counter()
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = max(1, min(workers or max(1, cpus // threads), len(jobs)))
        outcomes = _dispatch(ray, jobs, n, threads, on_outcome, inherit_env=local)
        finished = time.perf_counter()
    finally:
        if owned:
            ray.shutdown()
    return FleetRun(outcomes, "ray", n, threads, finished - dispatched, dispatched - started)


def _ray_init(ray: Any, address: str | None, cpus_wanted: int) -> None:
    import logging  # noqa: PLC0415

    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        # A local instance: as many CPUs as the machine, or as --workers x --threads-per-bag asks for.
        kwargs["num_cpus"] = max(os.cpu_count() or 1, cpus_wanted)
    try:
        with warnings.catch_warnings():  # a failed connection also warns; the error below says it in one line
            warnings.simplefilter("ignore", UserWarning)
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise DepthRosError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {_one_line(exc)}") from exc


def _dispatch(ray: Any, jobs: list[BagJob], n: int, threads: int, on_outcome: Callable[[BagOutcome], None],
              inherit_env: bool = False) -> list:
    """Keep `n` actors busy, one bag each at a time, until every job has an outcome (input order).
    `inherit_env`: the workers inherit the thread limits (a local instance started here)."""
    env = {name: str(threads) for name in THREAD_ENV}
    actor_class = ray.remote(num_cpus=threads)(RemoteBagWorker)

    def new_actor() -> Any:
        if inherit_env:
            return actor_class.remote(threads)
        return actor_class.options(runtime_env={"env_vars": env}).remote(threads)

    idle = [new_actor() for _ in range(n)]
    queue, pending, outcomes = deque(jobs), {}, {}
    try:
        while queue or pending:
            while idle and queue:
                actor, job = idle.pop(), queue.popleft()
                pending[actor.run.remote(job)] = (job, actor)
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job, actor = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the worker died (out of memory, killed): a new one goes on
                outcome = BagOutcome(job.index, job.bag, error=f"Ray worker failed: {_one_line(exc)}")
                ray.kill(actor)
                actor = new_actor()
            idle.append(actor)
            outcomes[job.index] = outcome
            on_outcome(outcome)
    finally:
        for actor in idle + [a for _, a in pending.values()]:
            ray.kill(actor)
    return [outcomes[job.index] for job in jobs]


def evaluate_fleet(bags: list[str], args: argparse.Namespace, use_ray: bool, workers: int | None = None,
                   address: str | None = None, threads: int = 1, progress: bool = True) -> FleetRun:
    """Evaluate every bag with the options of `args` (those of depth-ros-eval), in this process or on Ray."""
    shared = fleet_args(args, threads)
    jobs = [BagJob(i, bag, shared) for i, bag in enumerate(bags)]
    with tqdm(total=len(jobs), desc="bags", unit="bag", disable=not progress, file=sys.stderr) as bar:
        failed = 0

        def on_outcome(outcome: BagOutcome) -> None:
            nonlocal failed
            if not outcome.ok:
                failed += 1
                if progress:
                    bar.write(f"FAILED {outcome.bag}: {outcome.error}", file=sys.stderr)
            bar.update(1)
            bar.set_postfix(failed=failed)

        if use_ray:
            return run_on_ray(jobs, threads, workers, address, on_outcome)
        return run_in_process(jobs, threads, on_outcome)
