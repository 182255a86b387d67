"""Pipelines and batches: many jobs that the browser follows as one, with one progress bar and
one Cancel button.

    job = upload.then(thumbnail, 256).then(notify).start("cat.png")
    # upload("cat.png"), then thumbnail(<its result>, 256), then notify(<that result>)

    job = import_rows.batch([1, 2, 3], then=summarize)
    # import_rows(1), (2) and (3) side by side, then summarize([r1, r2, r3])

Either start returns ONE job, the parent: its own id, state, progress, log and result, and a
``flow`` listing its steps or children, each of which is a job of its own (``parent``, ``step``).
The parent has no message and holds no worker: its children's ends move it, in their own
transactions (``store/parents.py``). ``queue.pipeline(name, pipeline)`` registers a pipeline so
that ``queue.start(name, ...)`` and ``POST {prefix}/`` start it by that name; pipelines and
batches started without a name run under the names below, which no task may take and HTTP does
not start.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConfigurationError, InvalidArguments, UnknownTask
from .job import BATCH, CHILDREN_LISTED, PIPELINE, Child, Flow, Job, Progress, new_id
from .states import QUEUED
from .store import NewJob, NewParent, Store

if TYPE_CHECKING:
    from .task import Task

PIPELINE_TASK = "lilqueue.pipeline"  # the parent's task name of a pipeline started without a name
BATCH_TASK = "lilqueue.batch"
RESERVED = "lilqueue."               # no task or pipeline may take a name starting so
START_OPTIONS = ("key", "delay", "eta", "priority")


class Step(NamedTuple):
    task: Task
    args: list        # after the previous step's result (none for the first step: the start's)
    kwargs: dict


class Pipeline:
    """Steps that run one after another, each given the result of the step before as its first
    argument. Immutable: ``then`` and ``options`` return a new pipeline.

        resize = upload.then(thumbnail, 256).then(notify)
        job = resize.start("cat.png")                    # one job for the three steps
        queue.pipeline("resize", resize)                 # startable by name, over HTTP too
    """

    def __init__(self, queue: Flows, steps: tuple[Step, ...], name: str | None = None,
                 start_options: dict[str, Any] | None = None) -> None:
        self.queue = queue
        self.steps = steps
        self.name = name
        self.start_options = start_options or {}

    def then(self, task: Task | str, *args: Any, **kwargs: Any) -> Pipeline:
        """This pipeline, then ``task(result, *args, **kwargs)``. The arguments are checked now
        (their number, names, annotations and JSON), as a start checks them."""
        found = self.queue.lookup(task)
        if isinstance(found, Pipeline):
            raise ConfigurationError(f"a pipeline's steps are tasks; {found.name!r} is a pipeline")
        try:
            found.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(found.name, f"as a step given the previous result first: {exc}") from None
        if found.types is not None:
            found.types.check(found.name, [None, *args], kwargs, skip=1)
        try:
            step = Step(found, json.loads(json.dumps(list(args), allow_nan=False)),
                        json.loads(json.dumps(kwargs, allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise InvalidArguments(found.name, f"arguments must be JSON values: {exc}") from None
        return Pipeline(self.queue, (*self.steps, step), self.name, self.start_options)

    def options(self, **options: Any) -> Pipeline:
        """This pipeline with start options bound (``key``, ``delay``, ``eta``, ``priority``)."""
        unknown = sorted(set(options) - set(START_OPTIONS))
        if unknown:
            raise TypeError(f"unknown start option(s): {', '.join(unknown)} (options: {', '.join(START_OPTIONS)})")
        return Pipeline(self.queue, self.steps, self.name, {**self.start_options, **options})

    def start(self, *args: Any, **kwargs: Any) -> Job:
        """Start the first step with these arguments; returns the pipeline's own job."""
        return self.queue.start_pipeline(self, args, kwargs, **self.start_options)

    def describe(self) -> dict[str, Any]:
        """As ``GET {prefix}/tasks`` lists it: the first step's parameters, and the steps."""
        first = self.steps[0].task.describe()
        return {"name": self.name, "doc": first["doc"], "parameters": first["parameters"],
                "pipeline": [step.task.name for step in self.steps]}

    def __repr__(self) -> str:
        steps = " -> ".join(step.task.name for step in self.steps)
        return f"<Pipeline {self.name + ': ' if self.name else ''}{steps}>"


class Flows:
    """The pipeline and batch methods of ``Queue``."""

    tasks: dict[str, Task]
    pipelines: dict[str, Pipeline]
    store: Store
    lookup: Any
    _new_job: Any
    _started: Any

    def chain(self, first: Task | str) -> Pipeline:
        """A pipeline of one step, ``first``; add steps with ``.then`` (``task.then`` does both)."""
        found = self.lookup(first)
        if isinstance(found, Pipeline):
            raise ConfigurationError(f"a pipeline's steps are tasks; {found.name!r} is a pipeline")
        return Pipeline(self, (Step(found, [], {}),))

    def pipeline(self, name: str, pipeline: Pipeline) -> Pipeline:
        """Register ``pipeline`` under ``name``: ``queue.start(name, ...)`` and HTTP then start it
        (its first step's arguments). Returns the registered pipeline."""
        if not isinstance(pipeline, Pipeline) or pipeline.queue is not self:
            raise ConfigurationError(f"queue.pipeline registers a pipeline of this queue, not {pipeline!r}")
        check_name(name, self)
        registered = Pipeline(self, pipeline.steps, name, pipeline.start_options)
        self.pipelines[name] = registered
        return registered

    def start_pipeline(self, pipeline: Pipeline, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, *,
                       key: str | None = None, owner: str | None = None, delay: float | timedelta | None = None,
                       eta: datetime | None = None, priority: int | None = None) -> Job:
        """Start ``pipeline``'s first step with ``args`` and ``kwargs``; its own job, at once.
        ``key``, ``delay``, ``eta``: as for ``start``, for the pipeline (its first step waits);
        ``priority``: of every step (default: each step's task's)."""
        first, now, parent_id = pipeline.steps[0], time.time(), new_id()
        # The key is checked as a job's, and then held by the pipeline's own job, not its first step.
        new = self._new_job(first.task, args, kwargs, key, owner, now, when=(delay, eta), priority=priority)
        first_child = _child(new, parent_id, 0)
        planned = [{"id": first_child.job.id, "task": first.task.name}]
        planned += [{"id": new_id(), "task": s.task.name, "args": s.args, "kwargs": s.kwargs,
                     "priority": s.task.priority if priority is None else priority} for s in pipeline.steps[1:]]
        total = len(pipeline.steps)
        children = tuple(Child(s["id"], s["task"], i, QUEUED if i == 0 else None) for i, s in enumerate(planned))
        parent = _parent(parent_id, pipeline.name or PIPELINE_TASK, new.job, now,
                         Progress(0, 1, f"step 1 of {total}: {first.task.name}"), Flow(PIPELINE, total, 0, 0, children))
        holder = self.store.insert_flow(
            NewParent(parent, new.args, new.kwargs, PIPELINE, total, json.dumps({"steps": planned}),
                      first.task.max_pending), [first_child])
        return self._started([holder or parent])[0]

    def start_batch(self, task: Task | str, items: Iterable[Any], then: Task | str | None = None, *,
                    key: str | None = None, owner: str | None = None, delay: float | timedelta | None = None,
                    eta: datetime | None = None, priority: int | None = None) -> Job:
        """One child job of ``task`` per item (a tuple item is spread as arguments, as for
        ``map``), all started in one transaction, and their parent job, returned. It succeeds
        with the children's results in item order, or with ``then(results)``'s result; it fails
        once every child ended if any did not succeed."""
        found = self.lookup(task)
        after = None if then is None else self.lookup(then)
        for one in (found, after):
            if isinstance(one, Pipeline):
                raise ConfigurationError(f"a batch runs tasks; {one.name!r} is a pipeline")
        if after is not None:
            try:
                after.signature.bind([])
            except TypeError as exc:
                raise InvalidArguments(after.name, f"a batch's then-task takes the list of results: {exc}") from None
        now, parent_id = time.time(), new_id()
        # The children as written, the first one with the key too (to check it, then hand it to the parent).
        children = [self._new_job(found, item if isinstance(item, tuple) else (item,), None, key if i == 0 else None,
                                  owner, now, when=(delay, eta), priority=priority, parent=parent_id, step=i)
                    for i, item in enumerate(items)]
        if children and key is not None:
            children[0] = _child(children[0], parent_id, 0)
        total, planned = len(children), None
        if after is not None:
            planned = {"id": new_id(), "task": after.name, "priority": after.priority if priority is None else priority}
            if not children:  # nothing to wait for: the then-task starts with no results
                children = [_child(self._new_job(after, [[]], None, key, owner, now, when=(delay, eta),
                                                 priority=priority), parent_id, 0)]
                planned["id"] = children[0].job.id
        listed = tuple(Child(c.job.id, c.job.task, i, QUEUED) for i, c in enumerate(children[:CHILDREN_LISTED]))
        if planned is not None and total:
            listed += (Child(planned["id"], planned["task"], total, None),)
        model = children[0].job if children else None
        parent = _parent(parent_id, BATCH_TASK, model, now, Progress(0, total), Flow(BATCH, total, 0, 0, listed),
                         key=key, owner=owner, priority=priority, args=[], kwargs={})
        holder = self.store.insert_flow(
            NewParent(parent, "[]", "{}", BATCH, total, json.dumps({"task": found.name, "then": planned}),
                      found.max_pending), children)
        if holder is None and not children:
            holder = self.store.get(parent_id)  # an empty batch ends as it starts
        return self._started([holder or parent])[0]


def _child(new: NewJob, parent: str, step: int) -> NewJob:
    """A new job as a child of ``parent`` (any key it was given belongs to the parent)."""
    return NewJob(dataclasses.replace(new.job, parent=parent, step=step, key=None), new.args, new.kwargs, new.message,
                  new.max_pending)


def _parent(parent_id: str, task: str, model: Job | None, now: float, progress: Progress, flow: Flow,
            **fields: Any) -> Job:
    """The parent's snapshot as its start writes it: its first child's arguments, key, owner,
    priority and time to run (``model``), unless ``fields`` say otherwise."""
    taken = {name: getattr(model, name) for name in ("args", "kwargs", "key", "owner", "run_at", "priority")} \
        if model else {"args": [], "kwargs": {}, "key": None, "owner": None, "run_at": None, "priority": 0}
    taken.update(fields)
    return Job(id=parent_id, task=task, state=QUEUED, version=1, progress=progress, logs=(), logs_dropped=0,
               result=None, error=None, attempts=0, cancel_requested=False, created_at=datetime.fromtimestamp(now, UTC),
               started_at=None, finished_at=None, flow=flow, **{**taken, "priority": taken["priority"] or 0})


def check_name(name: Any, queue: Flows) -> None:
    """A new task's or pipeline's name: free, and not one of lilqueue's own."""
    if not isinstance(name, str) or name.startswith(RESERVED):
        raise ConfigurationError(f"names starting with {RESERVED!r} are lilqueue's own, not {name!r}")
    if name in queue.tasks or name in queue.pipelines:
        raise ConfigurationError(f"a task or pipeline named {name!r} is already registered")


def startable(queue: Flows) -> dict[str, Task | Pipeline]:
    """What HTTP may start and lists: the registered tasks and pipelines but lilqueue's own
    (the reserved prefix: the carrier of Django's tasks API, ``lilqueue.django``)."""
    return {name: found for name, found in {**queue.tasks, **queue.pipelines}.items() if not name.startswith(RESERVED)}


def refuse_pipeline(found: Task | Pipeline) -> Task:
    """A task, where only a task will do (``start_many``, a retry)."""
    if isinstance(found, Pipeline):
        raise UnknownTask(found.name)
    return found
