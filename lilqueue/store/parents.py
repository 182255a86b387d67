"""The own jobs of pipelines and batches ("parents"), moved on by their children, in SQL for
every engine.

    parents = Parents(store)                      # a SqlStore's; each call joins the caller's transaction
    parents.insert(cursor, new_parent, first)     # a start: the parent (no message) and its first children
    parents.claimed(child, parent, step, now)     # a child was claimed (False: do not run it)
    parents.progressed(parent, step, progress, lines)  # a pipeline step wrote progress or log lines
    parents.ended(parent, step, state, result, error, now)  # a child ended, whichever way
    parents.cancel(parent, now)                   # the parent was canceled: so are its children
    parents.listed(row)                           # the children a reader sees with the parent

A parent has no queue message, so no worker ever runs it and none of a worker's threads waits
for its children. It moves only in the transaction that ends one of its children (a worker's
finish, a cancel, a reaper taking a dead worker's job): a counter on its row, never a count over
its children, so a crash between the two cannot happen, and reading a batch of 10,000 costs one
row. A pipeline's next step is written with its message in the transaction that ends the step
before it: a worker dying at any point leaves either the step to finish or the next to run.
Every change of a parent names the states it leaves (``... and state in ('queued', 'running')``),
so of a cancel and a child's end racing on PostgreSQL, the second finds the parent as the
first left it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from ..errors import JobChanged
from ..job import BATCH, CHILDREN_LISTED, PIPELINE, Child, Job, Progress
from ..states import CANCELED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED
from .base import NewJob, NewParent
from .schema import JOB

UNFINISHED = f"state in ('{QUEUED}', '{RUNNING}')"
FAILURES_NAMED = 5  # failed children a batch's error names one by one


class Engine(Protocol):
    """What parents need of their store (``sql.py``)."""
    huey: Any
    _make_message: Any

    def _execute(self, sql: str, params: Sequence = ()) -> Any: ...
    def _sql(self, sql: str) -> str: ...
    def _insert_rows(self, cursor: Any, new: Sequence[NewJob]) -> None: ...
    def _append_logs(self, job_id: str, lines: list, dropped: int, log_count: int | None) -> int: ...
    def _check_pending(self, cursor: Any, task: str, limit: int, adding: int) -> None: ...


class Parents:
    def __init__(self, store: Engine) -> None:
        self.store = store
        self._execute = store._execute

    def insert(self, cursor: Any, parent: NewParent, children: Sequence[NewJob]) -> str | None:
        """Write the parent row and its first children (with their messages); returns the id of
        the unfinished job holding the parent's key instead, if any."""
        job = parent.job
        if job.key is not None:
            cursor.execute(self.store._sql(f"select id from {JOB} where key = ? and {UNFINISHED}"), (job.key,))
            holder = cursor.fetchone()
            if holder:
                return holder[0]
        if children and parent.max_pending is not None:
            self.store._check_pending(cursor, children[0].job.task, parent.max_pending, len(children))
        cursor.execute(self.store._sql(
            f"insert into {JOB} (id, task, state, args, kwargs, key, owner, version, attempts, cancel_requested,"
            " logs_dropped, created_at, run_at, priority, parked, current, total, message, kind, children,"
            " children_done, children_failed, plan) values (?, ?, ?, ?, ?, ?, ?, 1, 0, 0, 0, ?, ?, ?, 0, ?, ?, ?,"
            " ?, ?, 0, 0, ?)"),
            (job.id, job.task, QUEUED, parent.args, parent.kwargs, job.key, job.owner, job.created_at.timestamp(),
             job.run_at and job.run_at.timestamp(), job.priority, job.progress.current, job.progress.total,
             job.progress.message, parent.kind, parent.total, parent.plan))
        if children:
            self.store._insert_rows(cursor, children)
        elif parent.kind == BATCH:  # no items and no then-task: done as it starts
            self._finish(job.id, SUCCEEDED, job.created_at.timestamp(), result="[]")
        return None

    def claimed(self, child: str, parent: str, step: int, now: float) -> bool:
        """A worker just marked ``child`` running: the parent runs too (a pipeline's readers see
        which step, anew). False, and the child canceled unrun, when the parent is being
        canceled: a step started in the moment its pipeline was canceled does not run."""
        row = self._execute(f"select state, cancel_requested, kind from {JOB} where id = ?", (parent,)).fetchone()
        if row is None:
            return True  # the parent was deleted: the child runs on its own
        state, cancel_requested, kind = row
        if not cancel_requested and state not in FINISHED:
            if state == RUNNING and kind != PIPELINE:
                return True  # a batch that runs already: one read per child, no write
            if self._execute(f"update {JOB} set state = ?, started_at = coalesce(started_at, ?),"
                             f" version = version + 1 where id = ? and {UNFINISHED} and cancel_requested = 0",
                             (RUNNING, now, parent)).rowcount:
                return True
        self._execute(f"update {JOB} set state = ?, finished_at = ?, worker = null, started_at = null,"
                      " attempts = attempts - 1, cancel_requested = 1, version = version + 1 where id = ?",
                      (CANCELED, now, child))
        self.ended(parent, step, CANCELED, None, None, now)
        return False

    def progressed(self, parent: str, step: int, progress: tuple | None, lines: list) -> None:
        """A pipeline step's progress fills its share of the pipeline's (never backwards); its log
        lines join the pipeline's log. A batch's children do not move their parent here."""
        if progress is not None:
            current, total, message = progress
            share = float(step + (min(max(current / total, 0.0), 1.0) if total else 0.0))
            row = self._execute(
                f"update {JOB} set current = case when coalesce(current, 0) < ? / children then ? / children"
                " else current end, message = coalesce(?, message), version = version + 1"
                f" where id = ? and state = '{RUNNING}' and kind = '{PIPELINE}' returning id",
                (share, share, message, parent)).fetchone()
        else:
            row = self._execute(f"update {JOB} set version = version + 1 where id = ? and state = '{RUNNING}'"
                                f" and kind = '{PIPELINE}' returning id", (parent,)).fetchone()
        if row is not None and lines:
            self.store._append_logs(parent, lines, 0, None)

    def ended(self, parent: str, step: int, state: str, result: str | None,
              error: tuple[str, str, str | None] | None, now: float) -> None:
        """A child ended (``result``: its JSON; ``error``: type, message, traceback)."""
        if self._items_ended(parent, 1, 0 if state == SUCCEEDED else 1, now, item=step):
            return  # an item of a running batch, counted: the common case, in one statement
        row = self._execute(f"select kind, children from {JOB} where id = ?", (parent,)).fetchone()
        if row is None:
            return  # the parent was deleted
        kind, total = row
        if kind == PIPELINE:
            self._step_ended(parent, step, state, result, error, now)
        elif step >= total:
            self._then_ended(parent, state, result, error, now)

    def cancel(self, parent: str, now: float, version: int | None = None) -> bool:
        """Cancel ``parent`` if it is an unfinished pipeline or batch (False otherwise: not a
        parent, finished, or its cancel requested already). Its queued children end canceled now
        and its running ones are asked to stop, before the parent itself changes: every
        transaction locks a child before its parent, so none waits for another in a circle
        (PostgreSQL). The parent ends canceled at once, or once its last running child ends.
        With ``version`` (If-Match), a parent that moved on raises JobChanged, and the caller's
        transaction, rolled back, leaves its children as they were."""
        row = self._execute(f"select kind, children from {JOB} where id = ?", (parent,)).fetchone()
        if row is None or not row[0]:
            return False
        kind, total = row
        ended = self._execute(f"update {JOB} set state = ?, cancel_requested = 1, finished_at = ?,"
                              f" version = version + 1 where parent = ? and state = '{QUEUED}' returning step",
                              (CANCELED, now, parent)).fetchall()
        self._execute(f"update {JOB} set cancel_requested = 1, version = version + 1"
                      f" where parent = ? and state = '{RUNNING}' and cancel_requested = 0", (parent,))
        at = "" if version is None else " and version = ?"
        if not self._execute(f"update {JOB} set cancel_requested = 1, version = version + 1 where id = ?"
                             f" and {UNFINISHED} and cancel_requested = 0{at}",
                             (parent, *(() if version is None else (version,)))).rowcount:
            now_at = self._execute(f"select state, version from {JOB} where id = ?", (parent,)).fetchone()
            if version is not None and now_at[0] not in FINISHED and now_at[1] != version:
                raise JobChanged(parent, version, now_at[1])
            return False
        steps = sorted(s for (s,) in ended)
        if kind == PIPELINE:
            for step in steps:
                self._step_ended(parent, step, CANCELED, None, None, now)
        else:
            items = sum(1 for s in steps if s < total)
            if items:
                self._items_ended(parent, items, items, now)
            if len(steps) > items:
                self._then_ended(parent, CANCELED, None, None, now)
        if not self._execute(f"select 1 from {JOB} where parent = ? and state = '{RUNNING}' limit 1",
                             (parent,)).fetchone():
            self._finish(parent, CANCELED, now)  # nothing left running: canceled now (a no-op if it ended)
        return True

    def listed(self, row: dict[str, Any]) -> tuple[Child, ...]:
        """The children a reader of the parent sees: every step of a pipeline (a state of None:
        not started yet), a batch's first CHILDREN_LISTED items and its then-task."""
        plan = json.loads(row["plan"])
        parent, total = row["id"], row["children"]
        found = self._execute(f"select id, task, step, state from {JOB} where parent = ? and step < ? order by step",
                              (parent, total if row["kind"] == PIPELINE else min(total, CHILDREN_LISTED))).fetchall()
        children = [Child(*child) for child in found]
        if row["kind"] == PIPELINE:
            states = {child.step: child.state for child in children}
            return tuple(Child(s["id"], s["task"], i, states.get(i)) for i, s in enumerate(plan["steps"]))
        then = plan.get("then")
        if then is not None:
            state = self._execute(f"select state from {JOB} where id = ?", (then["id"],)).fetchone()
            children.append(Child(then["id"], then["task"], total, state[0] if state else None))
        return tuple(children)

    def _step_ended(self, parent: str, step: int, state: str, result: str | None,
                    error: tuple[str, str, str | None] | None, now: float) -> None:
        row = self._take(parent, "children, plan, cancel_requested, owner, priority")
        if row is None:
            return
        total, plan, cancel_requested, owner, priority = row
        if cancel_requested:
            self._finish(parent, CANCELED, now, done=step + 1)
        elif state == SUCCEEDED and step + 1 < total:
            following = json.loads(plan)["steps"][step + 1]
            args = [json.loads(result or "null"), *following["args"]]
            message = f"step {step + 2} of {total}: {following['task']}"
            if self._start_child(parent, step + 1, following, args, following["kwargs"], owner, now):
                self._execute(f"update {JOB} set children_done = ?, current = case when coalesce(current, 0) < ?"
                              " then ? else current end, message = ? where id = ?",
                              (step + 1, (step + 1) / total, (step + 1) / total, message, parent))
        elif state == SUCCEEDED:
            self._finish(parent, SUCCEEDED, now, result=result, done=total, current=1)
        elif state == FAILED:
            self._finish(parent, FAILED, now, error=error, done=step + 1, failed=1)
        else:
            task = json.loads(plan)["steps"][step]["task"]
            self._finish(parent, FAILED, now, error=("Canceled", f"step {step + 1} of {total} ({task}) was canceled",
                                                     None), done=step + 1, failed=1)

    def _items_ended(self, parent: str, count: int, failed: int, now: float, item: int | None = None) -> bool:
        """Count ``count`` ended items of a batch (``item``: the one that ended, when not known
        to be one); False when nothing was counted: not a batch's item, or the batch ended."""
        row = self._execute(
            f"update {JOB} set children_done = children_done + ?, children_failed = children_failed + ?,"
            f" current = children_done + ?, version = version + 1 where id = ? and kind = '{BATCH}'"
            f" and children > ? and {UNFINISHED}"
            " returning children, children_done, children_failed, cancel_requested, plan, owner",
            (count, failed, count, parent, -1 if item is None else item)).fetchone()
        if row is None:
            return False
        if row[1] < row[0]:
            return True  # children still to end
        total, _, failures, cancel_requested, plan, owner = row
        then = json.loads(plan).get("then")
        if cancel_requested:
            self._finish(parent, CANCELED, now)
        elif failures:
            self._finish(parent, FAILED, now, error=self._failures(parent, total, failures))
        elif then is not None:
            self._start_child(parent, total, then, [self._results(parent, total)], {}, owner, now)
            self._execute(f"update {JOB} set message = ? where id = ?", (f"then: {then['task']}", parent))
        else:
            self._finish(parent, SUCCEEDED, now, result=json.dumps(self._results(parent, total)))
        return True

    def _then_ended(self, parent: str, state: str, result: str | None,
                    error: tuple[str, str, str | None] | None, now: float) -> None:
        row = self._take(parent, "cancel_requested, plan")
        if row is None:
            return
        if row[0]:
            self._finish(parent, CANCELED, now)
        elif state == CANCELED:
            task = json.loads(row[1])["then"]["task"]
            self._finish(parent, FAILED, now, error=("Canceled", f"the then-task {task} was canceled", None))
        else:
            self._finish(parent, state, now, result=result, error=error)

    def _take(self, parent: str, columns: str) -> tuple | None:
        """Read an unfinished parent, and hold its row until the transaction ends (PostgreSQL)."""
        return self._execute(f"update {JOB} set version = version + 1 where id = ? and {UNFINISHED}"
                             f" returning {columns}", (parent,)).fetchone()

    def _finish(self, parent: str, state: str, now: float, result: str | None = None,
                error: tuple[str, str, str | None] | None = None, done: int | None = None, failed: int = 0,
                current: float | None = None) -> None:
        kind, text, trace = error or (None, None, None)
        self._execute(
            f"update {JOB} set state = ?, result = ?, error_type = ?, error_message = ?, error_traceback = ?,"
            " finished_at = ?, children_done = coalesce(?, children_done), children_failed = children_failed + ?,"
            f" current = coalesce(?, current), version = version + 1 where id = ? and {UNFINISHED}",
            (state, result, kind, text, trace, now, done, failed, current, parent))

    def _start_child(self, parent: str, step: int, planned: dict[str, Any], args: list, kwargs: dict,
                     owner: str | None, now: float) -> bool:
        """Write a planned child (a pipeline's next step, a batch's then-task) with its message;
        False, and the parent failed, when this process cannot make its message (a worker that
        does not know the task)."""
        store = self.store
        try:
            message = store.huey.serialize_task(store._make_message(planned["id"], planned["task"], args, kwargs,
                                                                     planned["priority"]))
        except (KeyError, LookupError, TypeError) as exc:
            self._finish(parent, FAILED, now, error=("UnknownTask", f"cannot start {planned['task']!r}: {exc}", None))
            return False
        job = Job(id=planned["id"], task=planned["task"], state=QUEUED, version=1, args=args, kwargs=kwargs, key=None,
                  owner=owner, progress=Progress(), logs=(), logs_dropped=0, result=None, error=None, attempts=0,
                  cancel_requested=False, created_at=datetime.fromtimestamp(now, UTC), started_at=None,
                  finished_at=None, priority=planned["priority"], parent=parent, step=step)
        store._insert_rows(store.database.cursor(), [NewJob(job, json.dumps(args), json.dumps(kwargs), message)])
        return True

    def _results(self, parent: str, total: int) -> list:
        rows = self._execute(f"select result from {JOB} where parent = ? and step < ? order by step",
                             (parent, total)).fetchall()
        return [None if value is None else json.loads(value) for (value,) in rows]

    def _failures(self, parent: str, total: int, failures: int) -> tuple[str, str, None]:
        """The error of a batch whose children failed: how many, and the first ones by name."""
        rows = self._execute(
            f"select step, id, state, error_type, error_message from {JOB} where parent = ? and step < ?"
            f" and state in ('{FAILED}', '{CANCELED}') order by step limit {FAILURES_NAMED}",
            (parent, total)).fetchall()
        named = [f"item {step} (job {job_id}) {state}" + (f": {kind}: {text}" if kind else "")
                 for step, job_id, state, kind, text in rows]
        more = f"; and {failures - len(rows)} more" if failures > len(rows) else ""
        return "ChildrenFailed", f"{failures} of {total} children did not succeed: {'; '.join(named)}{more}", None
