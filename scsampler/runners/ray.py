"""``predict``, ``extract`` and ``score-dense`` over a video collection on a Ray cluster (``--engine ray``).

The same records and caches as the local commands, from workers spread over a cluster:

- predict runs in two stages that scale apart. Cheap-pass workers (one CPU each) hold the selector
  and the classifier's clip grid: probe, cheap pass, selection (:func:`choose_clips`). Classifier
  workers (one GPU each where ``device`` is ``cuda``, else one CPU) hold the classifier: decode the
  chosen clips and classify them (:func:`classify_chosen`). A selector that classifies every clip
  itself (dense, the oracle) runs whole on a classifier worker. extract has one stage of cheap-pass
  workers, dense scoring one of classifier workers.
- Every worker is a Ray actor that loads its models once (they come through the object store, once
  per worker). Workers open the video paths themselves: the files must be at the same paths on every
  node (a shared file system); video bytes never travel through the object store, only the small
  records between the stages (a few floats per clip).
- Exactly once, nothing lost. The driver keeps at most one call in flight per worker and writes each
  video's record the moment it comes back, through the local runner's file format and resume logic
  (:mod:`scsampler.runners.local`): one line per video, appended, flushed and fsynced. A rerun after
  the driver was killed drops a line cut short by the kill, skips every video already in the file
  and submits each remaining one once. Caches (features, dense scores) are written by the workers
  themselves, each entry content-addressed and renamed into place when complete, so a rerun skips
  them. A worker that dies (its process, or its node) is restarted by Ray, and the video it was
  working on is sent again (:data:`RETRIES` times: a video that kills its worker every time becomes
  that video's one-line error, and the batch goes on).

Ray Core actors, not Ray Data: the driver has to write each video's record the moment it comes
back, into the local runner's results file and its per-video resume, where Ray Data's unit of work
and of output is a block of rows. A video that kills its worker every time must end as that
video's one error line once it was sent again :data:`RETRIES` times, where Ray Data retries and fails whole tasks
(and by default stops the dataset at the first failed block), and the stages' sizes and the
backlog between them stay explicit (one call in flight per worker, at most two chosen videos per
classifier worker waiting). It also keeps the extra at ``ray[client]``, without the pandas and
pyarrow that ``ray[data]`` installs.

Ray is an optional dependency (``pip install 'scsampler[ray]'``), imported only here and only when
a Ray engine is asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections import deque
from pathlib import Path

import torch
from tqdm import tqdm

from scsampler.data.cache import FeatureCache
from scsampler.data.extraction import ExtractSummary, expand_inputs, extract_one
from scsampler.data.manifest import ManifestEntry
from scsampler.errors import ConfigError, ScsamplerError, VideoError
from scsampler.features.extractor import ExtractorConfig
from scsampler.files import atomic_write_json, digest
from scsampler.io.grid import ClipGrid
from scsampler.pipeline.video import ChosenClips, choose_clips, classify_chosen
from scsampler.reports import html as report_html
from scsampler.runners.local import (
    PredictSummary,
    _generator,
    _write_failures,
    error_line,
    error_record,
    predict_one,
    report_rows,
    resume,
    run_settings,
    truth_fields,
)
from scsampler.runtime.classifier import ClipClassifier
from scsampler.selectors.base import ClipSelector

log = logging.getLogger(__name__)

INSTALL = "pip install 'scsampler[ray]'"
RETRIES = 2          # a video whose worker was lost is sent again this many times


def import_ray():
    """The ``ray`` module, or a one-line :class:`ConfigError` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


# --- the connection ---------------------------------------------------------------------------

def _is_loopback(address: str) -> bool:
    return address.rsplit(":", 1)[0].strip("[]") in ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def _loopback_only(ray):
    """Ray binds its servers to every interface unless the node's address is 127.0.0.1, and
    ``ray.init`` turns a 127.0.0.1 it is given into the machine's outward address, except in the
    single-machine mode it runs on macOS and Windows: switch that mode on for ``ray.init`` and the
    processes it starts (they read it from the environment), then put both back."""
    from ray._private import ray_constants

    var, before = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[var], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = flag
        if before is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = before


def init_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Connect to the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``), or
    with ``None`` start one on this machine: no dashboard, listening on the loopback address only,
    ``num_cpus`` CPUs (default: every core). Returns ``ray``."""
    ray = import_ray()
    common = dict(logging_level=logging.WARNING, log_to_driver=log.isEnabledFor(logging.DEBUG))  # workers' logs with -v
    try:
        if address is None:
            with _loopback_only(ray):
                ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                         _node_ip_address="127.0.0.1", **common)
        elif "://" not in address and _is_loopback(address):  # a cluster of this machine alone
            with _loopback_only(ray):
                ray.init(address=address, _node_ip_address="127.0.0.1", **common)
        else:
            ray.init(address=address, **common)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise ConfigError(f"--address {address}: cannot connect to a Ray cluster there ({' '.join(str(err).split())[:300]})") from None
    return ray


@contextlib.contextmanager
def _session(address: str | None, num_cpus: int):
    """Ray for one run: the connection this process already has (left open), else a new one that
    is closed at the end (a local cluster started here goes with it)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    init_ray(address, num_cpus=num_cpus)
    try:
        yield ray
    finally:
        ray.shutdown()


def _cluster(ray) -> tuple[int, int]:
    res = ray.cluster_resources()
    return int(res.get("CPU", 0)), int(res.get("GPU", 0))


def _on_gpu(device: str) -> bool:
    return device.startswith("cuda")


# --- the workers (Ray actors; the classes are wrapped with ray.remote when a run starts) --------

@dataclasses.dataclass(frozen=True)
class Shared:
    """Models put once in Ray's object store and passed, boxed, with every call: a worker fetches
    them on its first call and keeps them (and fetches them again after Ray restarted it). Not
    constructor arguments: Ray cannot promise to restart an actor whose constructor arguments are in
    the object store (ray-project/ray#53727), and says so for every worker."""

    ref: object
    key: str

    @classmethod
    def put(cls, ray, value) -> Shared:
        ref = ray.put(value)
        return cls(ref, ref.hex())


class _Worker:
    """Base of the actors. A failure to start is kept and told by :meth:`ready`, so that the driver
    reports it in one line instead of Ray restarting a worker that can never start."""

    def __init__(self, threads: int = 1):
        torch.set_num_threads(max(1, threads))
        self.error: str | None = None
        self._models: tuple[str | None, dict] = (None, {})

    def ready(self) -> str | None:
        return self.error

    def models(self, models: Shared | dict) -> dict:
        """The models of a call (a :class:`Shared` box is fetched once, then kept)."""
        if not isinstance(models, Shared):
            return self.prepare(models)
        if self._models[0] != models.key:
            import ray

            self._models = (models.key, self.prepare(ray.get(models.ref)))
        return self._models[1]

    def prepare(self, models: dict) -> dict:
        return models


class CheapWorker(_Worker):
    """Probe, cheap pass and selection of one video at a time (CPU). Its models: the selector and
    the fallback; of the classifier it knows only the clip grid."""

    def __init__(self, grid: ClipGrid, k: int, seed: int, threads: int = 1):
        super().__init__(threads)
        self.grid, self.k, self.seed = grid, k, seed

    def choose(self, entry: ManifestEntry, models: Shared | dict) -> ChosenClips | dict:
        """The chosen clips, the video's error record, or ``{"config_error"}`` (a misuse that would fail every video)."""
        m = self.models(models)
        try:
            if os.path.isdir(entry.path):
                raise VideoError(entry.video_id, "is a directory, not a video file")
            if not os.path.exists(entry.path):
                raise VideoError(entry.video_id, "no such file")
            return choose_clips(entry.path, self.grid, m["selector"], self.k, fallback=m["fallback"],
                                generator=_generator(self.seed, entry.video_id), video_id=entry.video_id)
        except ConfigError as err:
            return {"config_error": str(err)}
        except (ScsamplerError, RuntimeError, ValueError, MemoryError, OSError) as err:
            return error_record(entry, error_line(entry, err))


class ClassifierWorker(_Worker):
    """Decode and classify the chosen clips of one video at a time, or every clip of it (dense
    scoring, and the selectors that classify every clip themselves), with the classifier on ``device``.
    Its models: the classifier, and for predict the selector and the fallback."""

    def __init__(self, device: str, k: int = 10, seed: int = 0, threads: int = 1):
        from scsampler.models.registry import check_device

        super().__init__(threads)
        self.k, self.seed = k, seed
        try:
            self.device = check_device(device)
        except ConfigError as err:
            self.error = str(err)

    def prepare(self, models: dict) -> dict:
        clf = models["classifier"]
        return {**models, "classifier": dataclasses.replace(clf, model=clf.model.to(self.device), device=self.device)}

    def classify(self, entry: ManifestEntry, chosen: ChosenClips, models: Shared | dict) -> dict:
        try:
            result = classify_chosen(entry.path, self.models(models)["classifier"], chosen)
        except ConfigError as err:
            return {"config_error": str(err)}
        except (ScsamplerError, RuntimeError, ValueError, MemoryError, OSError) as err:
            return error_record(entry, error_line(entry, err))
        return {"video": entry.video_id, **result.to_json(), "scores": result.scores, **truth_fields(entry)}

    def run(self, entry: ManifestEntry, models: Shared | dict) -> dict:
        """The whole of one video, as the local runner does it."""
        m = self.models(models)
        try:
            return predict_one(entry, m["classifier"], m["selector"], self.k, fallback=m["fallback"], seed=self.seed)
        except ConfigError as err:
            return {"config_error": str(err)}

    def dense(self, entry: ManifestEntry, cache_root: str, models: Shared | dict) -> tuple[str, str | None]:
        """Every clip of one video into the dense cache: ``("done" | "skipped" | "failed", error)``."""
        from scsampler.runtime.dense import _path, dense_scores

        classifier = self.models(models)["classifier"]
        try:
            if os.path.isdir(entry.path):
                raise VideoError(entry.video_id, "is a directory, not a video file")
            if _path(Path(cache_root), classifier, digest(entry.path, size=16)).exists():
                return "skipped", None
            _, errors = dense_scores(classifier, [entry], cache_root, progress=False)
        except VideoError as err:
            return "failed", str(err)
        except (ScsamplerError, RuntimeError, ValueError, MemoryError, OSError) as err:
            return "failed", f"{entry.video_id}: {' '.join(str(getattr(err, 'strerror', None) or err).split())}"
        return ("failed", errors[entry.video_id]) if entry.video_id in errors else ("done", None)


class ExtractWorker(_Worker):
    """The cheap features of one video at a time into the feature cache (CPU)."""

    def __init__(self, cache_root: str, config: ExtractorConfig, retry_failed: bool, threads: int = 1):
        super().__init__(threads)
        self.cache, self.retry_failed = FeatureCache(cache_root, config), retry_failed

    def extract(self, entry: ManifestEntry) -> tuple[str, str | None]:
        return extract_one(entry, self.cache, retry_failed=self.retry_failed)


# --- the driver ------------------------------------------------------------------------------

class _Stage:
    """The workers of one stage, each with at most one call in flight: the driver's backpressure.

    Ray restarts a worker that died (on another node when its node is gone); the worker takes no
    call until it answers again, and the driver sends the video it was working on again, up to
    :data:`RETRIES` times, so that a lost node costs the videos in flight on it nothing, and a video
    that kills its worker every time fails alone. (Ray's own retries are off: they spend themselves
    on a worker that is still restarting.)"""

    def __init__(self, ray, name: str, cls, count: int, options: dict, *args):
        remote = ray.remote(cls).options(max_restarts=-1, max_task_retries=0, **options)
        self.ray, self.name = ray, name
        self.workers = [remote.remote(*args) for _ in range(count)]
        self.starting: dict = {}                  # ref of ready() -> worker
        self.recovering: set[int] = set()         # workers that died: asked again until they answer
        self.later: list[tuple[float, int]] = []  # (when, worker): ask it again then
        self.idle: deque[int] = deque()
        self.calls: dict = {}                     # ref -> (worker, item)
        self.tries: dict[str, int] = {}           # video -> its calls lost with their worker
        self.down_since: float | None = time.monotonic()  # since when no worker answers
        for i in range(count):
            self._ask(i)

    def _ask(self, i: int) -> None:
        self.starting[self.workers[i].ready.remote()] = i

    def started(self, ref) -> None:
        """A worker answered :meth:`_Worker.ready`: it takes calls from now on (or could never start)."""
        i = self.starting.pop(ref)
        exc = self.ray.exceptions
        try:
            error = self.ray.get(ref)
        except exc.ActorUnavailableError:
            self.later.append((time.monotonic() + 1.0, i))  # still (re)starting: ask again in a second
            return
        except exc.RayError as err:
            error = " ".join(str(err).split())[:500]
        if error:
            raise ConfigError(f"the {self.name} workers cannot start: {error}")
        self.recovering.discard(i)
        self.idle.append(i)
        self.down_since = None

    def poll(self) -> None:
        now = time.monotonic()
        for t, i in [x for x in self.later if x[0] <= now]:
            self.later.remove((t, i))
            self._ask(i)
        if self.down_since is None and not self.idle and not self.calls:
            self.down_since = now

    def submit(self, method: str, item, *args) -> None:
        i = self.idle.popleft()
        self.calls[getattr(self.workers[i], method).remote(*args)] = (i, item)

    def finished(self, ref):
        """``(item, value)`` of a finished call; ``value`` is :data:`_AGAIN` when its worker was lost
        (send the item again), or a :class:`_Lost` error when that happened on every try."""
        i, item = self.calls.pop(ref)
        try:
            value = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError:
            raise  # a bug, not a video: stop as the local runner would
        except self.ray.exceptions.RayError as err:
            self.recovering.add(i)
            self._ask(i)
            video = _video_id(item)
            self.tries[video] = n = self.tries.get(video, 0) + 1
            cause = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
            if n > RETRIES:
                return item, _Lost(f"{video}: its {self.name} worker was lost on each of {n} tries ({cause})")
            log.warning("ray: the %s worker of %s was lost (%s); Ray restarts it and the video is sent again (try %d of %d)",
                        self.name, video, cause[:120], n + 1, RETRIES + 1)
            return item, _AGAIN
        self.idle.append(i)
        return item, value

    def refs(self) -> list:
        return list(self.starting) + list(self.calls)

    def close(self) -> None:
        for w in self.workers:
            with contextlib.suppress(Exception):
                self.ray.kill(w)


@dataclasses.dataclass
class _Lost:
    error: str


_AGAIN = object()  # a call whose worker was lost: send its item again


def _video_id(item) -> str:
    return (item[0] if isinstance(item, tuple) else item).video_id


def _drive(ray, stages: list[_Stage], feed, on_result, remaining, *, interval: float = 1.0, patience: float = 120) -> None:
    """Until ``remaining()`` is 0 and no call is in flight: ``feed()`` submits what the idle workers
    can take, ``on_result(stage, item, value)`` takes each finished call."""
    warned: set[str] = set()
    while True:
        for s in stages:
            s.poll()
        feed()
        if not remaining() and not any(s.calls for s in stages):
            return
        refs = [r for s in stages for r in s.refs()]
        now = time.monotonic()
        for s in stages:
            if s.down_since is None:
                warned.discard(s.name)
            elif now - s.down_since > patience and s.name not in warned:
                warned.add(s.name)
                log.warning("ray: no %s worker has answered for %.0f s: the cluster lacks the resources they ask for "
                            "(`ray status` lists them), or is still adding nodes", s.name, now - s.down_since)
        ready, _ = ray.wait(refs, num_returns=1, timeout=interval) if refs else ([], [])
        if not refs:
            time.sleep(interval)
        for ref in ready:
            stage = next(s for s in stages if ref in s.starting or ref in s.calls)
            if ref in stage.starting:
                stage.started(ref)
            else:
                on_result(stage, *stage.finished(ref))


def _sizes(ray, given: tuple[int, ...] | None, stages: tuple[str, ...], device: str) -> dict[str, int]:
    """Workers per stage: ``given``, else the whole cluster: a classifier worker per GPU (with a
    ``cuda`` device) or half the CPUs (at least one; all of them when it is the only stage), the
    cheap-pass workers on the CPUs left."""
    cpus, gpus = _cluster(ray)
    if "classifier" in stages and _on_gpu(device) and gpus == 0:
        raise ConfigError(f"--device {device}: the Ray cluster has no GPU (`ray status` lists its resources)")
    if given is not None:
        if len(given) != len(stages):
            raise ConfigError(f"--workers-per-stage: give {len(stages)} number(s), for the {' and '.join(stages)} stage(s)")
        return dict(zip(stages, given))
    if stages == ("classifier",):
        return {"classifier": gpus if _on_gpu(device) else max(1, cpus)}
    if stages == ("cheap",):
        return {"cheap": max(1, cpus)}
    clf = gpus if _on_gpu(device) else max(1, cpus // 2)
    return {"cheap": max(1, cpus - clf), "classifier": clf}


def _local_cpus(given: tuple[int, ...] | None) -> int:
    """CPUs of a local cluster: every core, or more where more workers were asked for (they share them)."""
    return max(os.cpu_count() or 1, sum(given) if given else 0)


def _classifier_options(device: str) -> dict:
    return {"num_cpus": 1, "num_gpus": 1 if _on_gpu(device) else 0}


def _announce(ray, what: str, count: int, sizes: dict[str, int]) -> None:
    cpus, gpus = _cluster(ray)
    names = {"cheap": "cheap-pass", "classifier": "classifier"}
    log.info("ray: %d video(s) to %s on %s worker(s) (cluster: %d CPUs, %d GPUs)", count, what,
             " and ".join(f"{n} {names[s]}" for s, n in sizes.items()), cpus, gpus)


class _Progress:
    """A bar on an interactive terminal, else a log line every 30 s (a batch on a cluster runs for hours)."""

    def __init__(self, total: int, desc: str, progress: bool):
        self.bar = tqdm(total=total, desc=desc, unit="video", disable=not progress)
        self.total, self.done, self.desc, self.quiet = total, 0, desc, not progress
        self.t0 = self.last = time.monotonic()

    def update(self) -> None:
        self.bar.update()
        self.done += 1
        now = time.monotonic()
        if self.quiet and now - self.last > 30:
            self.last = now
            log.info("%s: %d of %d videos, %.1f per minute", self.desc, self.done, self.total, 60 * self.done / (now - self.t0))

    def close(self) -> None:
        self.bar.close()


def predict_ray(
    entries: list[ManifestEntry | str | os.PathLike],
    classifier: ClipClassifier,
    selector: ClipSelector,
    out: str | os.PathLike,
    *,
    k: int = 10,
    fallback: ClipSelector | None = None,
    seed: int = 0,
    retry_failed: bool = False,
    report: str | os.PathLike | None = None,
    ground_truth: report_html.GroundTruth | None = None,
    progress: bool = False,
    address: str | None = None,
    workers: tuple[int, int] | None = None,
    device: str = "cpu",
) -> PredictSummary:
    """:func:`scsampler.runners.local.predict_many` on a Ray cluster: the same results file, lines
    and resume. ``classifier`` is loaded here on the CPU and sent to the classifier workers, which
    run it on ``device``. ``workers``: (cheap-pass, classifier) workers; default the whole cluster.
    ``address``: see :func:`init_ray`. ``report`` pictures are drawn here, as each video comes back."""
    import_ray()
    entries = [x for e in entries for x in ([e] if isinstance(e, ManifestEntry) else expand_inputs([os.fspath(e)]))]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nested = run_settings(classifier, selector, fallback, seed)
    summary = PredictSummary()
    records, todo = resume(out, entries, {"strategy": selector.name, "k": k, **nested}, retry_failed, summary)
    if report is not None:
        report = Path(report)
        report.mkdir(parents=True, exist_ok=True)
    bar = _Progress(len(todo), "predict (ray)", progress)
    stages: list[_Stage] = []
    try:
        if todo:
            # A selector that classifies every clip (dense, the oracle) runs whole on a classifier worker.
            whole = selector.needs.dense or selector.needs.label
            names = ("classifier",) if whole else ("cheap", "classifier")
            if whole and workers is not None and len(workers) == 2:
                workers = workers[1:]
            with _session(address, _local_cpus(workers)) as ray, open(out, "a", encoding="utf-8") as f:
                sizes = _sizes(ray, workers, names, device)
                _announce(ray, "predict", len(todo), sizes)
                # Held here for the run: the workers fetch them on their first call, and again after a restart.
                choosing = {"selector": selector, "fallback": fallback}
                models = Shared.put(ray, {"classifier": classifier, **(choosing if whole else {})})
                choosing = Shared.put(ray, choosing)
                clf = _Stage(ray, "classifier", ClassifierWorker, sizes["classifier"], _classifier_options(device), device, k, seed)
                stages.append(clf)
                cheap = None
                if not whole:
                    cheap = _Stage(ray, "cheap-pass", CheapWorker, sizes["cheap"], {"num_cpus": 1}, classifier.grid, k, seed)
                    stages.append(cheap)
                queue, chosen = deque(todo), deque()
                backlog = 2 * len(clf.workers)  # chosen videos waiting for a classifier worker, at most

                def feed():
                    while clf.idle and (chosen or (whole and queue)):
                        if chosen:
                            e, c = chosen.popleft()
                            clf.submit("classify", (e, c), e, c, models)
                        else:
                            e = queue.popleft()
                            clf.submit("run", e, e, models)
                    while cheap is not None and cheap.idle and queue and len(chosen) < backlog:
                        e = queue.popleft()
                        cheap.submit("choose", e, e, choosing)

                def on_result(stage, item, value):
                    if value is _AGAIN:
                        (chosen if isinstance(item, tuple) else queue).appendleft(item)
                        return
                    entry = item[0] if isinstance(item, tuple) else item
                    if isinstance(value, ChosenClips):
                        chosen.append((entry, value))
                        return
                    rec = error_record(entry, value.error) if isinstance(value, _Lost) else value
                    if "config_error" in rec:
                        raise ConfigError(rec["config_error"])
                    rec.update(strategy=selector.name, k=k, settings=nested)
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                    records[entry.video_id] = rec
                    if "error" in rec:
                        summary.failed.append((entry.video_id, rec["error"]))
                    else:
                        summary.done.append(entry.video_id)
                        if report is not None:
                            truth = ground_truth.find(entry.path) if ground_truth is not None else None
                            report_html.draw_video_safely(rec, entry.path, report, truth)
                    bar.update()

                try:
                    _drive(ray, stages, feed, on_result, lambda: len(queue) + len(chosen))
                finally:
                    for s in stages:
                        s.close()
    except KeyboardInterrupt:
        # Every finished video is already in the file; a rerun of the same command goes on from here.
        summary.interrupted = True
    finally:
        bar.close()
        summary.failures_file = _write_failures(out, records)
        if report is not None:
            report_html.write_report(report_rows(entries, records), report, ground_truth)
    return summary


def _single_stage(ray, stage: _Stage, method: str, todo: list[ManifestEntry], summary: ExtractSummary, bar: _Progress,
                  *args) -> None:
    queue = deque(todo)

    def feed():
        while stage.idle and queue:
            e = queue.popleft()
            stage.submit(method, e, e, *args)

    def on_result(_, entry, value):
        if value is _AGAIN:
            queue.appendleft(entry)
            return
        outcome, error = ("failed", value.error) if isinstance(value, _Lost) else value
        if outcome == "failed":
            summary.failed.append((entry.video_id, error))
        else:
            getattr(summary, outcome).append(entry.video_id)
        bar.update()

    try:
        _drive(ray, [stage], feed, on_result, lambda: len(queue))
    finally:
        stage.close()


def extract_ray(
    inputs: list[str] | list[ManifestEntry],
    cache_root: str | os.PathLike,
    config: ExtractorConfig = ExtractorConfig(),
    *,
    retry_failed: bool = False,
    progress: bool = True,
    root: str | os.PathLike | None = None,
    address: str | None = None,
    workers: int | None = None,
) -> ExtractSummary:
    """:func:`scsampler.data.extraction.extract_many` on a Ray cluster: the same feature cache, each
    entry written by the worker that extracted it; ``workers`` cheap-pass workers (default: one per
    CPU of the cluster). The summary goes to ``<settings-key>/last-run.json`` as locally."""
    import_ray()
    entries = inputs if inputs and isinstance(inputs[0], ManifestEntry) else expand_inputs(list(inputs), root)
    cache = FeatureCache(cache_root, config)
    summary = ExtractSummary()
    bar = _Progress(len(entries), "extract (ray)", progress)
    given = (workers,) if workers else None
    try:
        if entries:
            with _session(address, _local_cpus(given)) as ray:
                sizes = _sizes(ray, given, ("cheap",), "cpu")
                _announce(ray, "extract", len(entries), sizes)
                stage = _Stage(ray, "cheap-pass", ExtractWorker, sizes["cheap"], {"num_cpus": 1},
                               str(cache_root), config, retry_failed)
                _single_stage(ray, stage, "extract", entries, summary, bar)
    except KeyboardInterrupt:
        summary.interrupted = True  # every finished video is in the cache; a rerun skips it
    finally:
        bar.close()
        atomic_write_json(cache.root / "last-run.json", summary.to_json())
    return summary


def score_dense_ray(
    classifier: ClipClassifier,
    entries: list[ManifestEntry],
    cache_root: str | os.PathLike,
    *,
    progress: bool = True,
    address: str | None = None,
    workers: int | None = None,
    device: str = "cpu",
) -> ExtractSummary:
    """:func:`scsampler.runtime.dense.dense_scores` on a Ray cluster: the same dense cache, each entry
    written by the classifier worker that scored it (default: one per GPU with a ``cuda`` device,
    else one per CPU). ``done`` are the videos scored now, ``skipped`` those already cached."""
    import_ray()
    summary = ExtractSummary()
    bar = _Progress(len(entries), "dense (ray)", progress)
    given = (workers,) if workers else None
    try:
        if entries:
            with _session(address, _local_cpus(given)) as ray:
                sizes = _sizes(ray, given, ("classifier",), device)
                _announce(ray, "score densely", len(entries), sizes)
                stage = _Stage(ray, "classifier", ClassifierWorker, sizes["classifier"], _classifier_options(device), device)
                models = Shared.put(ray, {"classifier": classifier})  # held here for the run
                _single_stage(ray, stage, "dense", entries, summary, bar, str(cache_root), models)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
    return summary


__all__ = ["CheapWorker", "ClassifierWorker", "ExtractWorker", "extract_ray", "import_ray", "init_ray", "predict_ray",
           "score_dense_ray"]
