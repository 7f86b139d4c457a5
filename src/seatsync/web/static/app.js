// seatsync: small progressive enhancement. Pages work as plain forms; this adds instant saves and live progress.
"use strict";

const seatsync = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  async function api(method, url, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    if (!response.ok) {
      let message = data && data.detail ? data.detail : `the server answered ${response.status}`;
      if (Array.isArray(message)) message = message.map((m) => m.msg || String(m)).join("; ");
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  let toastTimer = null;
  function toast(message, isError) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("error", !!isError);
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  return { api, toast, debounce, csrf };
})();
window.seatsync = seatsync;

// a form with data-confirm asks first (Disconnect, Remove): nothing is sent unless the operator says yes
document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// a running push's page (History › Run, where "Push now" leads) follows it: the status, the counts and the rows are
// read again from the server as results arrive; a pause with nothing new says it is waiting (rate limit or retry);
// the finished run's summary stays on the page
(() => {
  const live = document.getElementById("run-live");
  const runId = live?.dataset.followRun;
  if (!runId) return;
  const name = live.dataset.targetName || "the target";
  let lastDone = -1;
  let stillSince = Date.now();
  let mark = "";
  const follow = async () => {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      const run = await seatsync.api("GET", `/api/v1/pushes/${runId}`);
      if (run.done !== lastDone) { lastDone = run.done; stillSince = Date.now(); }
      const now = `${run.status}|${run.done}|${run.succeeded}|${run.unchanged}|${run.failed}|${run.blocked}`;
      if (now !== mark) {
        mark = now;
        const page = await fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
        const fresh = new DOMParser().parseFromString(await page.text(), "text/html").getElementById("run-live");
        if (fresh) live.innerHTML = fresh.innerHTML;
      }
      const waiting = document.getElementById("run-waiting");
      if (run.status !== "running") {
        if (waiting) waiting.textContent = "";
        seatsync.toast(run.status === "succeeded" ? "Push finished" : `Push finished: ${run.status}`, run.status !== "succeeded");
        return;
      }
      if (waiting) waiting.textContent = Date.now() - stillSince > 4000 ? ` · waiting for ${name} (rate limit or retry)` : "";
    }
  };
  follow().catch((error) => seatsync.toast(error.message, true));
})();

// the schedule form's "Skip rows whose period is already invoiced" is shown only for a target that can tell (its
// data-targets); the server refuses it for the others, so a page without this script still says why
(() => {
  const target = document.getElementById("sc-target");
  const label = document.getElementById("sc-skip-invoiced-label");
  const box = document.getElementById("sc-skip-invoiced");
  if (!target || !label || !box) return;
  const allowed = (label.dataset.targets || "").split(" ").filter(Boolean);
  const show = () => {
    const fits = allowed.includes(target.value);
    label.hidden = !fits;
    if (!fits) box.checked = false;
  };
  target.addEventListener("change", show);
  show();
})();
