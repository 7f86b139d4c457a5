// The mapper, for every target: a chain of choices (the first searchable, the others lists read live from the PSA,
// each filtered by the one before), saved at once; clearing a mapping; Billing Status details; Preview (which can
// push what it shows); Push Billing with rows updated live; auto-map suggestions (ConnectWise). The target's
// layout (levels, save and choice addresses) comes from the table's data-layout. Everything goes through the JSON
// API with the CSRF header.
"use strict";

(() => {
  const { api, toast, debounce } = window.seatsync;
  const table = document.getElementById("mapper");
  if (!table) return;
  const layout = JSON.parse(table.dataset.layout);
  const levels = layout.levels;
  const period = table.dataset.period;
  const isAdmin = table.dataset.admin === "true";
  const threshold = table.dataset.threshold;  // the tenant's approval threshold for this target ("" when none)
  const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const qty = (v) => (v === null || v === undefined ? "—" : String(Number(v)));
  const saveUrl = (row) => layout.save.replace("{company}", encodeURIComponent(row.dataset.company));
  const rowName = (row) => row.querySelector(".company-name").textContent;
  const rowsByCompany = new Map();
  const itemLevel = levels.length - 1;

  document.querySelectorAll("select.autosubmit").forEach((s) => s.addEventListener("change", () => s.form.submit()));
  document.querySelectorAll("dialog [data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));

  function missing(chosen) {
    if (chosen === 0) return "Not mapped";
    const nouns = levels.slice(chosen).map((l) => l.noun);
    const said = nouns.length === 1 ? nouns[0] : `${nouns.slice(0, -1).join(", ")} and ${nouns[nouns.length - 1]}`;
    return `Not pushed: choose ${said}`;
  }

  // --- the row's state: one chain of choices, or one per product (data-p) when its products are billed apart ------
  const ofProduct = (p) => (p ? `[data-p="${p}"]` : ":not([data-p])");
  const input = (row, p = "") => row.querySelector(`input.pick${ofProduct(p)}`);
  const selects = (row, level, p = "") => [...row.querySelectorAll(`select[data-l="${level}"]${ofProduct(p)}`)];
  const valueOf = (row, level, p = "") => (level === 0 ? input(row, p)?.dataset.id : selects(row, level, p)[0]?.value) || "";
  const products = (row) => [...row.querySelectorAll("input.pick")].map((box) => box.dataset.p || "");
  function chosenLevels(row, p = "") {
    let n = 0;
    while (n < levels.length && valueOf(row, n, p)) n += 1;
    return n;
  }
  const rowChosen = (row) => Math.min(...products(row).map((p) => chosenLevels(row, p)));

  function setStatus(row, kind, label, title, extra = {}) {
    const cell = row.querySelector(".status").parentElement;
    if (kind === "none") {
      cell.innerHTML = `<span class="status status-none"${title ? ` title="${esc(title)}"` : ""}>${esc(label)}</span>`;
    } else {
      cell.innerHTML = `<button type="button" class="status status-${kind}" data-run="${esc(extra.run)}" data-q="${esc(extra.quantity)}" title="${esc(title)}"><i aria-hidden="true">${kind === "ok" ? "✓" : "✗"}</i>${esc(label)}</button>`;
    }
  }

  function statusFollowsMapping(row) {
    const chosen = rowChosen(row);
    if (chosen < levels.length) setStatus(row, "none", missing(chosen), "Rows without every choice are not pushed");
    else setStatus(row, "none", "Not pushed yet", "");
  }

  // "Mapping Saved" as the server words it (the tenant's zone, not UTC nor the browser's), so that it reads as
  // after a reload: the save's answer carries saved_date and saved_shown
  function markSaved(row, saved) {
    const cell = row.querySelector(".saved");
    cell.textContent = saved.saved_date;
    cell.title = `by ${saved.saved_by} at ${saved.saved_shown}`;
    row.classList.add("just-saved");
  }

  // a cleared row shows what a reload shows when nothing of it is mapped any more ("—"); one whose other product
  // is still mapped keeps its date until the next reload (its newest save is the server's to say)
  function markCleared(row) {
    const cell = row.querySelector(".saved");
    if (products(row).every((p) => !input(row, p).dataset.id)) {
      cell.textContent = "—";
      cell.title = "";
    } else {
      cell.title = "Mapping cleared";
    }
    row.classList.add("just-saved");
  }

  // --- "billed together": an item that already bills another company is refused until the operator says the
  // companies are billed together (the item then gets their sum), as `--billed-together` and the API's field do
  const together = document.getElementById("together");
  function askTogether(row, message) {
    if (!together) return Promise.resolve(false);
    document.getElementById("together-company").textContent = rowName(row);
    document.getElementById("together-reason").textContent = message;
    together.returnValue = "";
    together.showModal();
    return new Promise((resolve) => together.addEventListener("close", () => resolve(together.returnValue === "together"), { once: true }));
  }

  async function put(row, body) {
    try {
      return await api("PUT", saveUrl(row), body);
    } catch (error) {
      if (error.status !== 409 || !/billed together/.test(error.message) || !(await askTogether(row, error.message))) throw error;
      return api("PUT", saveUrl(row), { ...body, billed_together: true });
    }
  }

  async function save(row, level, p = "") {
    const body = {};
    for (let l = 0; l <= level; l += 1) body[levels[l].field] = valueOf(row, l, p) || null;
    if (p) body[layout.product] = p;
    row.classList.add("saving");
    try {
      const saved = await put(row, body);
      markSaved(row, saved);
      statusFollowsMapping(row);
      const ready = rowChosen(row) === levels.length ? " (ready to push)" : "";
      toast(`Mapping Saved: ${rowName(row)}${saved?.billed_together ? ` (billed together: the ${levels[itemLevel].noun} gets their sum)` : ready}`);
      return saved;
    } catch (error) {
      toast(`Not saved: ${error.message}`, true);
      throw error;
    } finally {
      row.classList.remove("saving");
    }
  }

  async function clearMapping(row, p = "") {
    row.classList.add("saving");
    try {
      await api("DELETE", saveUrl(row) + (p ? `?${layout.product}=${encodeURIComponent(p)}` : ""));
      input(row, p).value = "";
      input(row, p).dataset.id = "";
      for (let l = 1; l < levels.length; l += 1) selects(row, l, p).forEach((s) => resetSelect(s, "—", true));
      markCleared(row);
      statusFollowsMapping(row);
      addClearButton(row, p);
      toast(`Mapping cleared: ${rowName(row)} is no longer pushed`);
    } catch (error) {
      toast(`Not cleared: ${error.message}`, true);
    } finally {
      row.classList.remove("saving");
    }
  }

  // --- the lists ---------------------------------------------------------------------------------------------------
  const choices = (level, parent, q) => {
    const query = new URLSearchParams();
    if (parent) query.set("parent", parent);
    if (q !== undefined) query.set("q", q);
    return api("GET", `${layout.choices}/${levels[level].key}?${query}`);
  };

  function fillSelect(select, items, chosen, placeholder) {
    select.innerHTML = "";
    const first = new Option(items.length ? placeholder : "None available", "");
    select.appendChild(first);
    for (const item of items) {
      const option = new Option(item.label, item.id);
      if (String(item.id) === String(chosen)) option.selected = true;
      select.appendChild(option);
    }
    select.disabled = !isAdmin;
    select.dataset.loaded = "true";
  }

  function resetSelect(select, text, disabled) {
    select.innerHTML = `<option value="">${esc(text)}</option>`;
    select.disabled = disabled;
    delete select.dataset.loaded;
  }

  async function loadLevel(row, level, p = "") {
    const parent = valueOf(row, level - 1, p);
    if (!parent) return;
    const items = await choices(level, parent);
    for (const select of selects(row, level, p)) fillSelect(select, items, select.value, levels[level].placeholder);
  }

  // after a choice at `level` of product p's chain: the levels below start over, the next one is read
  async function chose(row, level, p = "") {
    await save(row, level, p);
    for (let l = level + 1; l < levels.length; l += 1) {
      selects(row, l, p).forEach((s) => resetSelect(s, l === level + 1 && valueOf(row, level, p) ? levels[l].placeholder : "—", true));
    }
    if (level + 1 < levels.length && valueOf(row, level, p)) {
      await loadLevel(row, level + 1, p);
      selects(row, level + 1, p)[0]?.focus();
    }
  }

  // --- the first level: a searchable box ---------------------------------------------------------------------------
  const list = document.createElement("ul");
  list.className = "options";
  list.setAttribute("role", "listbox");
  list.id = "mapper-options";
  list.hidden = true;

  function setupPick(row, p = "") {
    const box = input(row, p);
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-expanded", "false");
    box.setAttribute("autocomplete", "off");
    box.placeholder = isAdmin ? levels[0].placeholder : "";
    if (!isAdmin) return;
    let items = [];
    let active = -1;
    const close = () => { list.hidden = true; box.setAttribute("aria-expanded", "false"); active = -1; };
    const render = () => {
      box.parentElement.appendChild(list);
      box.setAttribute("aria-controls", list.id);
      list.innerHTML = items.length ? "" : `<li class="none">No ${esc(layout.name)} company matches</li>`;
      items.forEach((c, i) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        li.innerHTML = `${esc(c.label)}${c.detail ? `<small>${esc(c.detail)}</small>` : ""}`;
        li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(c); });
        list.appendChild(li);
      });
      list.hidden = false;
      box.setAttribute("aria-expanded", "true");
    };
    const search = debounce(async () => {
      try {
        items = await choices(0, null, box.value.trim());
        active = -1;
        if (document.activeElement === box) render();
      } catch (error) { toast(error.message, true); }
    }, 200);
    async function choose(company) {
      close();
      box.value = company.label;
      box.dataset.id = company.id;
      box.dataset.label = company.label;
      try { await chose(row, 0, p); addClearButton(row, p); } catch (error) { /* shown by save */ }
    }
    box.addEventListener("input", search);
    box.addEventListener("focus", () => { box.dataset.label = box.value; box.select(); search(); });
    box.addEventListener("blur", () => setTimeout(() => {
      close();
      // an emptied box clears the mapping; anything else typed but not chosen goes back to the saved name
      if (!box.value.trim() && box.dataset.id) clearMapping(row, p);
      else if (box.dataset.id) box.value = box.dataset.label ?? box.value;
    }, 150));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !box.value.trim() && box.dataset.id) { event.preventDefault(); clearMapping(row, p); return; }
      if (list.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = Math.max(0, Math.min(items.length - 1, active + (event.key === "ArrowDown" ? 1 : -1)));
        render();
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(items[active]);
      } else if (event.key === "Escape") { close(); }
    });
  }

  function addClearButton(row, p = "") {
    const box = input(row, p);
    const existing = box.parentElement.querySelector(`button.clear${ofProduct(p)}`);
    if (!isAdmin) return;
    if (!box.dataset.id) { existing?.remove(); return; }
    if (existing) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "clear";
    button.textContent = "×";
    button.title = "Clear this mapping (the company is no longer pushed)";
    if (p) button.dataset.p = p;
    const which = p ? ` (${box.previousElementSibling?.textContent || p})` : "";
    button.setAttribute("aria-label", `Clear the mapping of ${rowName(row)}${which}`);
    button.addEventListener("click", () => clearMapping(row, p));
    box.after(button);
  }

  // --- "Create addition" (the PSA's item): made in the PSA on the chosen chain, then mapped -------------------------
  // one button per item choice: a company whose products are billed apart gets one per product (data-p)
  function addCreateButton(row) {
    if (!layout.create || !isAdmin || table.dataset.connected !== "true") return;
    for (const p of products(row)) {
      const select = selects(row, itemLevel, p)[0];
      if (!select) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "create-item link-plain";
      button.textContent = layout.create.label;
      const which = p ? ` (${select.previousElementSibling?.textContent || p})` : "";
      button.setAttribute("aria-label", `${layout.create.label} for ${rowName(row)}${which}`);
      button.title = `Make it in ${layout.name} on the chosen ${levels[itemLevel - 1].noun}, then map it`;
      if (p) button.dataset.p = p;
      button.addEventListener("click", () => createItem(row, button, p));
      select.after(button);
    }
  }

  // what "Create ..." asks for first (the PSA's name, item ...): null when the operator cancels
  const createDialog = document.getElementById("create-item");
  async function askCreateFields(row, p) {
    if (!createDialog) return {};
    const which = p ? ` (${p === "sat" ? "Training" : "Phishing"})` : "";
    document.getElementById("create-item-company").textContent = rowName(row) + which;
    const box = document.getElementById("create-item-fields");
    box.innerHTML = layout.create.fields.map((f, i) => `<p><label for="create-f${i}">${esc(f.label)}</label>
      ${f.choices ? `<select id="create-f${i}" data-key="${esc(f.key)}"><option value="">${esc(f.placeholder || "—")}</option></select>`
        : `<input id="create-f${i}" data-key="${esc(f.key)}" placeholder="${esc(f.placeholder)}" maxlength="200">`}</p>`).join("");
    for (const [i, f] of layout.create.fields.entries()) {
      if (!f.choices) continue;
      try {
        const select = document.getElementById(`create-f${i}`);
        for (const item of await api("GET", f.choices)) select.appendChild(new Option(item.name, String(item.id)));
      } catch (error) { toast(error.message, true); }
    }
    createDialog.returnValue = "";
    createDialog.showModal();
    const made = await new Promise((resolve) => createDialog.addEventListener("close", () => resolve(createDialog.returnValue === "create"), { once: true }));
    if (!made) return null;
    const values = {};
    for (const field of box.querySelectorAll("[data-key]")) {
      const value = field.value.trim();
      if (value) values[field.dataset.key] = field.tagName === "SELECT" && /^\d+$/.test(value) ? Number(value) : value;
    }
    return values;
  }

  async function createItem(row, button, p = "") {
    if (chosenLevels(row, p) < itemLevel) {
      toast(`Choose the ${levels.slice(0, itemLevel).map((l) => l.noun).join(" and ")} of ${rowName(row)} first`, true);
      return;
    }
    const body = { company_id: row.dataset.company };
    for (let l = 0; l < itemLevel; l += 1) body[levels[l].field] = valueOf(row, l, p);
    if (p) body[layout.product] = p;
    if (layout.create.fields?.length) {
      const asked = await askCreateFields(row, p);
      if (asked === null) return;
      Object.assign(body, asked);
    }
    button.disabled = true;
    row.classList.add("saving");
    try {
      const made = await api("POST", layout.create.url, body);
      const select = selects(row, itemLevel, p)[0];
      select.innerHTML = "";
      select.appendChild(new Option("", String(made[levels[itemLevel].field])));
      select.value = String(made[levels[itemLevel].field]);
      await loadLevel(row, itemLevel, p);
      markSaved(row, made.mapping);
      statusFollowsMapping(row);
      const what = made.catalog_created ? `catalog product ${made.catalog_identifier} and its addition` : `addition of ${made.catalog_identifier}`;
      toast(`Created the ${what} for ${rowName(row)}: mapping saved`);
    } catch (error) {
      toast(`Not created: ${error.message}`, true);
    } finally {
      button.disabled = false;
      row.classList.remove("saving");
    }
  }

  for (const row of table.querySelectorAll("tbody tr[data-company]")) {
    rowsByCompany.set(row.dataset.company, row);
    addCreateButton(row);
    for (const p of products(row)) {
      setupPick(row, p);
      addClearButton(row, p);
      for (let l = 1; l < levels.length; l += 1) {
        for (const select of selects(row, l, p)) {
          // the saved choice is shown at once; the full list is read from the PSA when the operator opens it
          select.addEventListener("focus", () => {
            if (!select.dataset.loaded) loadLevel(row, l, p).catch((error) => toast(error.message, true));
          });
          select.addEventListener("change", () => chose(row, l, p).catch(() => {}));
        }
      }
    }
  }

  // --- Billing Status details -------------------------------------------------------------------------------------
  const details = document.getElementById("details");
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button.status");
    if (!button) return;
    const row = button.closest("tr");
    document.getElementById("details-body").innerHTML = `
      <dt>Company</dt><dd>${esc(rowName(row))} <code>${esc(row.dataset.company)}</code></dd>
      <dt>Period</dt><dd>${esc(period)}</dd>
      <dt>Outcome</dt><dd>${esc(button.textContent.replace(/^[✓✗]/, ""))}</dd>
      <dt>Quantity</dt><dd>${esc(button.dataset.q || "—")}</dd>
      <dt>Reason</dt><dd>${esc(button.title || "—")}</dd>
      <dt>Run</dt><dd>${button.dataset.run ? `<a href="/history/${esc(button.dataset.run)}">Run ${esc(button.dataset.run)}</a>` : "—"}</dd>`;
    details.showModal();
  });

  // --- the approval threshold: the rows over it are highlighted and sent only when the operator ticks them ---------
  const signed = (n) => `${n > 0 ? "+" : ""}${n}`;
  const changeText = (r) => `${signed(r.change_seats)} seat${Math.abs(r.change_seats) === 1 ? "" : "s"}, ${r.change_percent === null ? "new" : `${signed(Math.round(r.change_percent))}%`}`;
  const rowLabel = (r) => `${r.name}${r.product ? ` (${r.product})` : ""}`;

  // the question in dialog `id` about the plan's rows over the threshold (with their table when `withRows`)
  function askOver(id, plan, withRows) {
    const box = document.getElementById(id);
    if (!box) return;
    const over = plan.rows.filter((r) => r.over_threshold);
    box.hidden = over.length === 0;
    box.innerHTML = "";
    if (!over.length) return;
    const n = over.length;
    const some = `${n} change${n === 1 ? "" : "s"}`;
    box.innerHTML = `<p class="notice notice-warn" role="status"><strong>${some}</strong> go${n === 1 ? "es" : ""} over the approval threshold (${esc(plan.approval_threshold || threshold)})${withRows ? "" : ", highlighted above"}.
        Without the tick below ${n === 1 ? "it is not sent but waits" : "they are not sent but wait"} on <a href="/approvals">Approvals</a>; the other rows are sent.</p>
      ${withRows ? `<div class="dialog-scroll"><table class="grid over-threshold-rows"><thead><tr><th scope="col">Company</th><th scope="col" class="num">Before</th>
        <th scope="col" class="num">Proposed</th><th scope="col">Change</th></tr></thead>
        <tbody>${over.map((r) => `<tr class="over-threshold"><td>${esc(rowLabel(r))}</td><td class="num">${qty(r.before)}</td><td class="num">${qty(r.after)}</td><td>${esc(changeText(r))}</td></tr>`).join("")}</tbody></table></div>` : ""}
      <p><label class="inline-check"><input type="checkbox" id="${id}-ok" class="push-approve-over"> Send ${n === 1 ? "this change" : `these ${n} changes`} too:
        ${over.map((r) => `${esc(rowLabel(r))} (${qty(r.before)} → ${qty(r.after)})`).join(", ")}</label></p>`;
  }
  const approvedOver = (id) => {
    const box = document.getElementById(id);
    return Boolean(box && !box.hidden && document.getElementById(`${id}-ok`)?.checked);
  };

  // --- Preview (and push what it shows) -----------------------------------------------------------------------------
  const actionLabel = { update: "Update", unchanged: "Unchanged", skip: "Skip (not mapped)", blocked: "Blocked", error: "Error" };
  document.getElementById("preview-open")?.addEventListener("click", async () => {
    const dialog = document.getElementById("preview");
    const body = document.getElementById("preview-body");
    body.innerHTML = `<p>Reading ${esc(layout.name)}…</p>`;
    dialog.showModal();
    try {
      const plan = await api("POST", "/api/v1/pushes/preview", { period, target: layout.target });
      const summary = Object.entries(plan.counts).filter(([, n]) => n).map(([a, n]) => `${n} ${actionLabel[a] || a}`).join(" · ");
      body.innerHTML = `<p><strong>${esc(summary || "Nothing to do")}</strong></p>
        <div class="dialog-scroll"><table class="grid"><thead><tr><th scope="col">Company</th><th scope="col" class="num">Billable</th>
        <th scope="col" class="num">Before</th><th scope="col" class="num">After</th><th scope="col">Action</th><th scope="col">Reason</th></tr></thead>
        <tbody>${plan.rows.map((r) => `<tr${r.over_threshold ? ' class="over-threshold"' : ""}><td>${esc(r.name)}${r.product ? ` (${esc(r.product)})` : ""}</td><td class="num">${r.billable}</td>
          <td class="num">${r.before ?? "—"}</td><td class="num">${r.after ?? "—"}</td>
          <td class="action-${esc(r.action)}">${esc(actionLabel[r.action] || r.action)}${r.already_invoiced ? ' <strong class="invoiced">already invoiced</strong>' : ""}${r.over_threshold ? ` <strong class="over-badge">over the approval threshold: ${esc(changeText(r))}</strong>` : ""}</td>
          <td>${esc([r.reason, r.note, r.invoice].filter(Boolean).join(" · "))}</td></tr>`).join("")}</tbody></table></div>`;
      askOver("preview-over", plan, false);
    } catch (error) {
      body.innerHTML = `<p class="notice notice-error" role="alert">${esc(error.message)}</p>`;
    }
  });
  document.getElementById("preview-push")?.addEventListener("click", () => {
    const force = document.getElementById("preview-force")?.checked || false;
    const skipInvoiced = document.getElementById("preview-skip-invoiced")?.checked || false;
    const approveOver = approvedOver("preview-over");
    document.getElementById("preview").close();
    startPush(force, skipInvoiced, approveOver);
  });

  // --- Push Billing, with the rows updated as the run records them ------------------------------------------------
  const pushOpen = document.getElementById("push-open");
  const confirm = document.getElementById("push-confirm");
  const progress = document.getElementById("push-progress");
  pushOpen?.addEventListener("click", async () => {
    confirm.showModal();
    if (!threshold) return;
    // which rows go over the approval threshold: the same plan the push's gate makes
    const checking = document.getElementById("push-over-checking");
    checking.hidden = false;
    checking.textContent = `Checking which changes go over the approval threshold (${threshold})…`;
    try {
      askOver("push-over", await api("POST", "/api/v1/pushes/preview", { period, target: layout.target }), true);
      checking.hidden = true;
    } catch (error) {
      checking.textContent = `Could not read the changes (${error.message}): any over the approval threshold (${threshold}) will wait on Approvals.`;
    }
  });
  document.getElementById("push-go")?.addEventListener("click", () => {
    const force = document.getElementById("push-force")?.checked || false;
    const skipInvoiced = document.getElementById("push-skip-invoiced")?.checked || false;
    const approveOver = approvedOver("push-over");
    confirm.close();
    startPush(force, skipInvoiced, approveOver);
  });

  function showResult(result) {
    const row = rowsByCompany.get(result.company_id);
    if (!row) return;
    const tries = result.attempts > 1 ? ` (after ${result.attempts} attempts)` : "";
    if (result.outcome === "succeeded" || result.outcome === "unchanged") {
      const quantity = `${qty(result.before)} → ${qty(result.after)}`;
      setStatus(row, "ok", "Pushed", (result.reason || `Pushed: ${quantity}`) + tries, { run: result.run_id, quantity });
    } else if (result.outcome === "awaiting") {
      setStatus(row, "none", "Waiting for approval", result.reason || "Waits on Approvals");
    } else if (result.outcome === "failed" || result.outcome === "blocked") {
      const quantity = `${qty(result.before)} → ${qty(result.billable ?? result.after)}, not applied`;
      const label = result.outcome === "failed" ? "Failed" : "Blocked";
      setStatus(row, "bad", label, (result.reason || label) + tries, { run: result.run_id, quantity });
    } else {
      setStatus(row, "none", "Not pushed", result.reason || "Not pushed");
    }
    row.classList.add("just-pushed");
  }

  async function follow(runId) {
    const bar = progress.querySelector(".progress > span");
    const text = progress.querySelector(".progress-text");
    progress.hidden = false;
    let lastDone = -1;
    let stillSince = Date.now();
    const seen = new Map();
    for (;;) {
      const run = await api("GET", `/api/v1/pushes/${runId}?results=true`);
      let retrying = 0;
      let held = 0;
      for (const result of run.results) {
        if (result.attempts > 1) retrying += 1;
        if (result.outcome === "awaiting") held += 1;
        const key = `${result.company_id}|${result.outcome}|${result.attempts}|${result.after}`;
        if (seen.get(result.company_id) !== key) { seen.set(result.company_id, key); showResult({ ...result, run_id: run.id }); }
      }
      const expected = run.expected || 0;
      if (run.done !== lastDone) { lastDone = run.done; stillSince = Date.now(); }
      const waiting = Date.now() - stillSince > 4000;
      bar.style.width = `${Math.min(100, expected ? Math.round((100 * run.done) / expected) : 5)}%`;
      if (run.status !== "running") {
        bar.style.width = "100%";
        text.textContent = `Done: ${run.succeeded} pushed, ${run.unchanged} unchanged, ${run.failed} failed, ${run.blocked} blocked${held ? `, ${held} waiting for approval (see Approvals)` : ""}${retrying ? ` · ${retrying} after retries` : ""}`;
        progress.classList.add("done");
        const lastPush = document.getElementById("last-push");
        if (lastPush && run.finished_at) lastPush.textContent = run.finished_at_shown || run.finished_at;
        toast(run.status === "succeeded" ? "Push finished" : `Push finished: ${run.status}${run.status_reason ? " — " + run.status_reason : ""}`, run.status !== "succeeded");
        if (pushOpen) pushOpen.disabled = false;
        return;
      }
      text.textContent = (expected ? `Pushing… ${run.done} of ${expected}` : "Pushing…")
        + (retrying ? ` · retrying ${retrying}` : "")
        + (waiting ? ` · waiting for ${layout.name} (rate limit or retry)` : "");
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
  }

  async function startPush(force, skipInvoiced = false, approveOver = false) {
    if (pushOpen) pushOpen.disabled = true;
    const text = progress.querySelector(".progress-text");
    progress.hidden = false;
    progress.classList.remove("done");
    text.textContent = "Starting…";
    try {
      const started = await api("POST", "/api/v1/pushes", { target: layout.target, period, force, skip_invoiced: skipInvoiced, approve_over_threshold: approveOver });
      if (!started.run_id) { text.textContent = "Queued: this page follows it once it starts"; return; }
      await follow(started.run_id);
    } catch (error) {
      text.textContent = `Push not started: ${error.message}`;
      if (pushOpen) pushOpen.disabled = false;
      toast(`Push not started: ${error.message}`, true);
    }
  }

  if (progress?.dataset.run) follow(progress.dataset.run).catch((error) => toast(error.message, true));

  // --- auto-map (ConnectWise) ---------------------------------------------------------------------------------------
  const automap = document.getElementById("automap");
  document.getElementById("automap-open")?.addEventListener("click", async () => {
    const body = document.getElementById("automap-body");
    body.innerHTML = "<p>Looking for matches…</p>";
    automap.showModal();
    try {
      const found = await api("GET", "/api/v1/automap/suggestions");
      if (!found.length) { body.innerHTML = `<p>No suggestions: every company is mapped or has no close ${esc(layout.name)} match.</p>`; return; }
      body.innerHTML = `<div class="dialog-scroll"><table class="grid"><thead><tr><th scope="col">Company</th><th scope="col">${esc(layout.name)} company</th>
        <th scope="col">Agreement</th><th scope="col">Addition</th><th scope="col" class="num">Confidence</th><th scope="col"><span class="sr-only">Accept</span></th></tr></thead>
        <tbody>${found.map((s, i) => `<tr data-index="${i}"><td>${esc(s.company_name)}</td><td>${esc(s.cw_company_name)}${s.note ? `<br><small class="muted">${esc(s.note)}</small>` : ""}</td>
          <td>${esc(s.agreement_name || "—")}</td><td>${esc(s.addition_name || "—")}</td>
          <td class="num confidence">${Math.round(s.confidence * 100)}%</td>
          <td><button type="button" class="small accept" aria-label="Accept ${esc(s.cw_company_name)} for ${esc(s.company_name)}">Accept</button></td></tr>`).join("")}</tbody></table></div>`;
      body.querySelectorAll("button.accept").forEach((button) => button.addEventListener("click", async () => {
        const s = found[Number(button.closest("tr").dataset.index)];
        button.disabled = true;
        try {
          await api("POST", "/api/v1/automap/accept", { company_id: s.company_id, cw_company_id: s.cw_company_id, agreement_id: s.agreement_id, addition_id: s.addition_id });
          button.textContent = "Saved ✓";
          automap.dataset.changed = "true";
        } catch (error) { button.disabled = false; toast(error.message, true); }
      }));
    } catch (error) {
      body.innerHTML = `<p class="notice notice-error" role="alert">${esc(error.message)}</p>`;
    }
  });
  document.getElementById("automap-all")?.addEventListener("click", async () => {
    const above = Number(document.getElementById("automap-threshold").value) / 100;
    try {
      const saved = await api("POST", "/api/v1/automap/accept-all", { above });
      toast(`${saved.saved} mapping${saved.saved === 1 ? "" : "s"} saved`);
      automap.dataset.changed = "true";
      automap.close();
    } catch (error) { toast(error.message, true); }
  });
  automap?.addEventListener("close", () => { if (automap.dataset.changed) window.location.reload(); });

  document.getElementById("refresh-companies")?.addEventListener("click", async (event) => {
    event.target.disabled = true;
    try {
      const done = await api("POST", "/api/v1/connectwise/companies/refresh");
      toast(`${done.companies} ${layout.name} companies read`);
    } catch (error) { toast(error.message, true); } finally { event.target.disabled = false; }
  });
})();
