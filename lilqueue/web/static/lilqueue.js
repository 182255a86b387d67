// lilqueue.js: start background jobs, watch their progress and cancel them from the browser.
// One dependency-free ES module, served by the middleware at {prefix}/static/lilqueue.js.
//
//   import { start, bind } from "/jobs/static/lilqueue.js";
//   const job = await start("import_csv", ["users.csv"]);
//   bind(document.querySelector("#import"), job);   // <progress data-lilqueue-progress> etc.
//
// The prefix defaults to the folder above this file ("/jobs" when served at
// /jobs/static/lilqueue.js); pass { prefix } to any call to use another.

// Written in by the server (lilqueue/web/staticfiles.py), each from its one source in Python.
const FACTS = /*facts*/{}/*end*/;
const WAIT = FACTS.wait;  // seconds the server may hold a long-poll (its max_wait)
const NO_WORKER_GRACE = FACTS.no_worker_grace * 1000;  // ms a queued job may wait before bind() says no worker runs
const { QUEUED, SUCCEEDED } = FACTS.states;
const FINAL = FACTS.finished;
const MAX_BACKOFF = 30000;  // ms between retries after repeated errors
const MIN_INTERVAL = 1000;  // ms between requests when the server answers without waiting
const DEFAULT_PREFIX = new URL("..", import.meta.url).href.replace(/\/$/, "");

/** An HTTP error; `problem` holds the RFC 9457 body (type, title, status, detail) when there is one. */
export class LilqueueError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = "LilqueueError";
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export const isFinal = (job) => FINAL.includes(job.state);

/**
 * `current` of `total` as a whole percentage rounded down, so that "100%" means all of it
 * ("54%" for 163 of 300); "" while no total is known; `done` (the job succeeded) is "100%".
 * The rule of lilqueue.formats.percent, which the status page, the dashboard and the CLI use.
 */
export function percentText(current, total, done = false) {
  if (done) return "100%";
  if (current == null || !total) return "";
  const ratio = Math.min(Math.max(current / total, 0), 1);
  return `${Math.floor(ratio * 100 + 1e-9)}%`;  // 1e-9: 29 of 100 is 28.999999999999996 in floats
}

const jobUrl = (prefix, id) => `${prefix ?? DEFAULT_PREFIX}/${encodeURIComponent(id)}`;

const retryAfterOf = (response) => Number(response.headers.get("Retry-After")) || null;

// The body and the Retry-After seconds (or null) of a successful answer; throws a LilqueueError otherwise.
async function exchange(method, url, { body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, signal, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new LilqueueError(0, { title: "Network error", detail: `cannot reach the server (${error.message})` });
  }
  let data = null;
  try { data = await response.json(); } catch { /* an empty or non-JSON body (a proxy's error page) */ }
  if (!response.ok) {
    throw new LilqueueError(response.status, data && typeof data === "object" ? data : null, retryAfterOf(response));
  }
  return { data, retryAfter: retryAfterOf(response) };
}

const request = async (method, url, options) => (await exchange(method, url, options)).data;

/** Start a registered task; resolves to the job (with `id`, `url`, `version`). */
export function start(task, args = [], kwargs = {}, { key, delay, prefix, signal } = {}) {
  const body = { task, args, kwargs };
  if (key != null) body.key = key;
  if (delay != null) body.delay = delay;  // seconds before it may run (the server allows up to a day)
  return request("POST", `${prefix ?? DEFAULT_PREFIX}/`, { body, signal });
}

/** The job as it is now. */
export function get(id, { prefix, signal } = {}) {
  return request("GET", jobUrl(prefix, id), { signal });
}

/** Cancel a job; rejects with a LilqueueError of status 409 when it already finished. */
export function cancel(id, { prefix, signal } = {}) {
  return request("POST", `${jobUrl(prefix, id)}/cancel`, { body: {}, signal });
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const timer = setTimeout(done, ms);
  function done() { signal?.removeEventListener("abort", abort); resolve(); }
  function abort() { clearTimeout(timer); reject(signal.reason); }
  signal?.addEventListener("abort", abort, { once: true });
});

// Resolves at once when the page is visible, else when it becomes visible again.
const visible = (signal) => new Promise((resolve, reject) => {
  if (typeof document === "undefined" || !document.hidden) return resolve();
  if (signal?.aborted) return reject(signal.reason);
  function show() {
    if (document.hidden) return;
    document.removeEventListener("visibilitychange", show);
    signal?.removeEventListener("abort", abort);
    resolve();
  }
  function abort() { document.removeEventListener("visibilitychange", show); reject(signal.reason); }
  document.addEventListener("visibilitychange", show);
  signal?.addEventListener("abort", abort, { once: true });
});

// Exponential backoff with jitter (so many tabs do not retry in step); Retry-After wins when given.
function backoff(failures, retryAfter) {
  if (retryAfter) return retryAfter * 1000;
  const ceiling = Math.min(MAX_BACKOFF, 1000 * 2 ** (failures - 1));
  return ceiling / 2 + Math.random() * ceiling / 2;
}

// Errors that retrying cannot fix: the job is gone, forbidden, or the request is wrong.
const permanent = (error) => error instanceof LilqueueError && [400, 401, 403, 404, 410].includes(error.status);

/**
 * Follow a job until it finishes, calling `onUpdate(job)` for every new version.
 * Resolves to the finished job; rejects when `signal` aborts or the job cannot be read (404, 403).
 * Long-polls with ?since=version&wait=WAIT (the server's max_wait), retries with backoff on errors,
 * pauses while the tab is hidden.
 * A server that cannot afford to hold the poll answers at once with Retry-After: the next poll waits that long.
 */
export async function watch(jobOrId, { onUpdate, signal, prefix, wait = WAIT } = {}) {
  let job = typeof jobOrId === "string" ? null : jobOrId;
  const url = jobUrl(prefix, job ? job.id : jobOrId);
  if (job) onUpdate?.(job);
  let failures = 0;
  while (!job || !isFinal(job)) {
    await visible(signal);
    const since = job ? job.version : 0;
    const began = Date.now();
    try {
      const { data: next, retryAfter } = await exchange("GET", `${url}?since=${since}&wait=${wait}`, { signal });
      failures = 0;
      const changed = !job || next.version !== job.version;
      if (changed) {
        job = next;
        onUpdate?.(job);
      }
      if (isFinal(job)) break;
      if (retryAfter) {
        await sleep(Math.max(retryAfter * 1000, MIN_INTERVAL), signal);  // not held: the server asks for a pause
      } else if (!changed && Date.now() - began < MIN_INTERVAL) {
        await sleep(MIN_INTERVAL, signal);  // unchanged and unheld: the server is not waiting for us
      }
    } catch (error) {
      if (signal?.aborted || permanent(error)) throw error;
      failures += 1;
      await sleep(backoff(failures, error.retryAfter), signal);
    }
  }
  return job;
}

const bindings = new WeakMap();  // container -> AbortController of its current binding

function emit(container, name, detail) {
  container.dispatchEvent(new CustomEvent(`lilqueue:${name}`, { bubbles: true, detail }));
}

function show(element, text) {
  if (!element) return;
  element.textContent = text ?? "";
  element.hidden = !text;
}

const describe = (value) => (value == null ? "" : typeof value === "string" ? value : JSON.stringify(value));

function renderLogs(list, job, state) {
  // `logs` keeps the newest lines only; `logs_dropped` counts the older ones, so the
  // total ever written tells how many of the lines are new since the last render.
  const logs = job.logs || [];
  const total = (job.logs_dropped || 0) + logs.length;
  const fresh = Math.min(logs.length, total - state.logCount);
  if (fresh <= 0) return;
  // A scrolling list follows its newest line, unless the reader scrolled up to an older one.
  const following = list.scrollTop + list.clientHeight >= list.scrollHeight - 2;
  for (const line of logs.slice(logs.length - fresh)) {
    const item = document.createElement("li");
    item.className = `lilqueue-log lilqueue-log-${line.level}`;
    item.dataset.level = line.level;
    item.textContent = line.message;
    item.title = line.ts;
    list.append(item);
  }
  while (list.children.length > logs.length) list.firstElementChild.remove();
  state.logCount = total;
  if (following) list.scrollTop = list.scrollHeight;
}

// A pipeline's or a batch's own job (job.flow) lists its steps or children under its card, in
// the container's [data-lilqueue-children] list, or in one appended to the container.
function renderChildren(container, job) {
  const flow = job.flow;
  let list = container.querySelector("[data-lilqueue-children]");
  if (!flow) return list?.replaceChildren();
  if (!list) {
    list = document.createElement("ol");
    list.dataset.lilqueueChildren = "";
    list.className = "lilqueue-children";
    container.append(list);
  }
  const items = flow.children.map((child) => {
    const item = document.createElement("li");
    const state = child.state || "waiting";  // null: a later step, not started yet
    item.className = `lilqueue-child lilqueue-child-${state}`;
    Object.assign(item.dataset, { state, job: child.id, step: String(child.step) });
    item.textContent = `${child.task}: ${state}`;
    return item;
  });
  const listed = flow.children.filter((child) => child.step < flow.total).length;
  if (flow.kind === "batch" && flow.total > listed) {
    const more = document.createElement("li");
    more.className = "lilqueue-child lilqueue-child-more";
    more.textContent = `… ${flow.total - listed} more (${flow.done} of ${flow.total} done, ${flow.failed} failed)`;
    items.push(more);
  }
  list.replaceChildren(...items);
}

// Queued with no worker alive, for longer than a worker would take to pick the job up.
const stalled = (job, state) => job.state === QUEUED && job.no_worker === true && state.graceOver;

function render(container, job, state) {
  const find = (name) => container.querySelector(`[data-lilqueue-${name}]`);
  const final = isFinal(job);
  const idle = stalled(job, state);
  const percent = job.state === SUCCEEDED ? 100 : job.progress?.percent;
  container.dataset.state = job.state;
  container.dataset.noWorker = String(idle);
  show(find("state"), job.state);
  const bar = find("progress");
  if (bar) {
    bar.max = 100;
    if (percent != null) bar.value = percent;
    else if (final || idle) bar.value = 0;  // nothing is moving: no animation
    else bar.removeAttribute("value");  // indeterminate until a total is known
  }
  show(find("percent"), percentText(job.progress?.current, job.progress?.total, job.state === SUCCEEDED));
  show(find("message"), idle ? "waiting for a worker — none is running"
    : job.progress?.message || (job.cancel_requested && !final ? "canceling…" : "") || waitingUntil(job));
  const logs = find("logs");
  if (logs) renderLogs(logs, job, state);
  renderChildren(container, job);
  show(find("result"), job.state === SUCCEEDED ? state.formatResult(job.result, job) : "");
  show(find("error"), job.error ? `${job.error.type}: ${job.error.message}` : state.problem);
  const button = find("cancel");
  if (button) button.disabled = final || job.cancel_requested;
}

// A delayed job, queued until its run_at: say when it may start.
function waitingUntil(job) {
  if (job.state !== QUEUED || !job.run_at || new Date(job.run_at) <= new Date()) return "";
  return `starts at ${new Date(job.run_at).toLocaleTimeString()}`;
}

function fail(container, error, job, state) {
  state.problem = error.message;  // kept on screen across later updates
  const target = container.querySelector("[data-lilqueue-error]") || container.querySelector("[data-lilqueue-message]");
  show(target, error.message);
  emit(container, "error", { error, job });
}

/**
 * Show a job in a container: <progress data-lilqueue-progress>, elements marked
 * data-lilqueue-state / -percent / -message / -result / -error, a list data-lilqueue-logs
 * and a button data-lilqueue-cancel; a pipeline's steps or a batch's children are listed in an
 * element data-lilqueue-children (an <ol> appended to the container when it has none). Dispatches lilqueue:update, lilqueue:done and
 * lilqueue:error (bubbling, `event.detail.job`). Binding the container again stops the old job's updates.
 * A job still queued NO_WORKER_GRACE after bind while the server reports `no_worker` shows "waiting for a worker"
 * as its message and a still bar; `container.dataset.noWorker` is "true" while that hint is shown.
 * `job` is a job, an id, or the promise start() returns. Resolves to the finished job (or null after an error).
 */
export async function bind(container, job, { prefix, signal, formatResult = describe } = {}) {
  if (typeof container === "string") container = document.querySelector(container);
  bindings.get(container)?.abort();
  const controller = new AbortController();
  bindings.set(container, controller);
  if (signal?.aborted) controller.abort(signal.reason);
  signal?.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  const state = { logCount: 0, formatResult, problem: "", graceOver: false };
  container.querySelector("[data-lilqueue-logs]")?.replaceChildren();
  let current = null;
  try {
    job = await job;  // a job, an id, or the promise start() returned
  } catch (error) {
    fail(container, error, null, state);
    return null;
  }
  if (controller.signal.aborted) return null;
  if (typeof job !== "string") current = job;
  const id = current ? current.id : job;
  container.dataset.lilqueueJob = id;

  const button = container.querySelector("[data-lilqueue-cancel]");
  button?.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const canceled = await cancel(id, { prefix });
      state.problem = "";
      if (!controller.signal.aborted && canceled.version > (current?.version ?? 0)) update(canceled);
    } catch (error) {
      if (error.status === 409) return;  // it finished meanwhile; the next update shows how
      button.disabled = false;
      fail(container, error, current, state);
    }
  }, { signal: controller.signal });

  function update(next) {
    if (current && next.version <= current.version && next !== current) return;  // already shown
    current = next;
    render(container, next, state);
    emit(container, "update", { job: next });
  }

  // A long-poll on a queued job may hold for WAIT seconds: redraw when the grace ends, whatever arrives.
  const grace = setTimeout(() => {
    state.graceOver = true;
    if (!controller.signal.aborted && current && stalled(current, state)) render(container, current, state);
  }, NO_WORKER_GRACE);

  try {
    const finished = await watch(current || id, { onUpdate: update, signal: controller.signal, prefix });
    emit(container, "done", { job: finished });
    return finished;
  } catch (error) {
    if (controller.signal.aborted) return null;
    fail(container, error, current, state);
    return null;
  } finally {
    clearTimeout(grace);
    controller.abort();  // removes the Cancel listener
    if (bindings.get(container) === controller) bindings.delete(container);
  }
}
