// The mapper: searchable ConnectWise choices that save at once, Billing Status details, Preview, Push Billing
// with live progress, auto-map suggestions. Everything goes through the JSON API with the CSRF header.
"use strict";

(() => {
  const { api, toast, debounce } = window.seatsync;
  const table = document.getElementById("mapper");
  if (!table) return;
  const period = table.dataset.period;
  const isAdmin = table.dataset.admin === "true";
  const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const today = () => new Date().toISOString().slice(0, 10);

  document.querySelectorAll("select.autosubmit").forEach((s) => s.addEventListener("change", () => s.form.submit()));
  document.querySelectorAll("dialog [data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));

  // --- saving -------------------------------------------------------------------------------------------------
  async function save(row, body) {
    row.classList.add("saving");
    try {
      const saved = await api("PUT", `/api/v1/mappings/${encodeURIComponent(row.dataset.company)}`, body);
      row.dataset.cwCompany = saved.cw_company_id || "";
      row.dataset.agreement = saved.agreement_id || "";
      row.dataset.addition = saved.addition_id || "";
      const cell = row.querySelector(".saved");
      cell.textContent = (saved.saved_at || today()).slice(0, 10);
      cell.title = `Mapping Saved by ${saved.saved_by || "you"}`;
      row.classList.add("just-saved");
      toast(`Mapping Saved: ${row.dataset.name}${saved.complete ? " (ready to push)" : ""}`);
      return saved;
    } catch (error) {
      toast(`Not saved: ${error.message}`, true);
      throw error;
    } finally {
      row.classList.remove("saving");
    }
  }

  function fillSelect(select, items, chosen, placeholder) {
    select.innerHTML = "";
    const first = document.createElement("option");
    first.value = "";
    first.textContent = items.length ? placeholder : "None available";
    select.appendChild(first);
    for (const item of items) {
      const option = document.createElement("option");
      option.value = item.id;
      option.textContent = item.label;
      if (String(item.id) === String(chosen)) option.selected = true;
      select.appendChild(option);
    }
    select.disabled = !isAdmin;
    select.dataset.loaded = "true";
  }

  async function loadAgreements(row) {
    const select = row.querySelector(".cw-agreement");
    if (!row.dataset.cwCompany) return;
    const items = await api("GET", `/api/v1/connectwise/companies/${row.dataset.cwCompany}/agreements`);
    fillSelect(select, items.map((a) => ({ id: a.id, label: a.name + (a.type ? ` (${a.type})` : "") })), row.dataset.agreement, "Choose agreement…");
  }

  async function loadAdditions(row) {
    const select = row.querySelector(".cw-addition");
    if (!row.dataset.agreement) return;
    const items = await api("GET", `/api/v1/connectwise/agreements/${row.dataset.agreement}/additions`);
    fillSelect(select, items.filter((a) => !a.cancelled).map((a) => ({ id: a.id, label: `${a.name} · qty ${a.quantity ?? 0}` })), row.dataset.addition, "Choose addition…");
  }

  function resetSelect(select, text) {
    select.innerHTML = `<option value="">${esc(text)}</option>`;
    select.disabled = true;
    delete select.dataset.loaded;
  }

  // --- the ConnectWise company combobox ---------------------------------------------------------------------------
  function setupPick(row) {
    const input = row.querySelector(".cw-company");
    const list = row.querySelector(".options");
    if (!isAdmin) return;
    let items = [];
    let active = -1;
    const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; };
    const render = () => {
      list.innerHTML = items.length ? "" : '<li class="none">No ConnectWise company matches</li>';
      items.forEach((c, i) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.dataset.id = c.id;
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        li.innerHTML = `${esc(c.name)}<small>${esc(c.identifier)} · #${c.id}</small>`;
        li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(c); });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    };
    const search = debounce(async () => {
      try {
        items = await api("GET", `/api/v1/connectwise/companies?limit=20&q=${encodeURIComponent(input.value.trim())}`);
        active = -1;
        render();
      } catch (error) { toast(error.message, true); }
    }, 200);
    async function choose(company) {
      close();
      input.value = company.name;
      try {
        await save(row, { cw_company_id: company.id });
        row.dataset.agreement = "";
        row.dataset.addition = "";
        resetSelect(row.querySelector(".cw-addition"), "—");
        await loadAgreements(row);
        row.querySelector(".cw-agreement").focus();
      } catch (error) { /* shown by save */ }
    }
    input.addEventListener("input", search);
    input.addEventListener("focus", () => { input.select(); search(); });
    input.addEventListener("blur", () => setTimeout(close, 150));
    input.addEventListener("keydown", (event) => {
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

  for (const row of table.querySelectorAll("tbody tr[data-company]")) {
    setupPick(row);
    const agreement = row.querySelector(".cw-agreement");
    const addition = row.querySelector(".cw-addition");
    // the saved choice is shown at once; the full list is read from ConnectWise when the operator opens it
    const lazy = (select, loader) => select.addEventListener("focus", () => {
      if (!select.dataset.loaded) loader(row).catch((error) => toast(error.message, true));
    });
    lazy(agreement, loadAgreements);
    lazy(addition, loadAdditions);
    agreement.addEventListener("change", async () => {
      row.dataset.agreement = agreement.value;
      row.dataset.addition = "";
      try {
        await save(row, { cw_company_id: Number(row.dataset.cwCompany), agreement_id: agreement.value ? Number(agreement.value) : null });
        resetSelect(addition, agreement.value ? "Choose addition…" : "—");
        if (agreement.value) await loadAdditions(row);
      } catch (error) { /* shown by save */ }
    });
    addition.addEventListener("change", async () => {
      row.dataset.addition = addition.value;
      try {
        await save(row, {
          cw_company_id: Number(row.dataset.cwCompany),
          agreement_id: Number(row.dataset.agreement),
          addition_id: addition.value ? Number(addition.value) : null,
        });
        const status = row.querySelector(".status-cell .status-none");
        if (status && addition.value) status.textContent = "Not pushed yet";
      } catch (error) { /* shown by save */ }
    });
    row.querySelector(".create-addition")?.addEventListener("click", () => createAddition(row));
  }

  // --- Create addition: the catalog product (if absent), then an addition on the chosen agreement ----------------
  async function createAddition(row) {
    if (!row.dataset.cwCompany || !row.dataset.agreement) {
      toast(`Choose the ConnectWise company and agreement of ${row.dataset.name} first`, true);
      return;
    }
    const button = row.querySelector(".create-addition");
    button.disabled = true;
    row.classList.add("saving");
    try {
      const made = await api("POST", "/api/v1/connectwise/additions", {
        company_id: row.dataset.company,
        cw_company_id: Number(row.dataset.cwCompany),
        agreement_id: Number(row.dataset.agreement),
      });
      row.dataset.addition = made.addition_id;
      await loadAdditions(row);
      const cell = row.querySelector(".saved");
      cell.textContent = (made.mapping.saved_at || today()).slice(0, 10);
      row.classList.add("just-saved");
      const what = made.catalog_created ? `catalog product ${made.catalog_identifier} and its addition` : `addition of ${made.catalog_identifier}`;
      toast(`Created the ${what} for ${row.dataset.name}: mapping saved`);
    } catch (error) {
      toast(`Not created: ${error.message}`, true);
    } finally {
      button.disabled = false;
      row.classList.remove("saving");
    }
  }

  // --- Billing Status details -------------------------------------------------------------------------------------
  const details = document.getElementById("details");
  table.addEventListener("click", (event) => {
    const button = event.target.closest("[data-details]");
    if (!button) return;
    const row = button.closest("tr");
    const d = row.dataset;
    const outcome = { succeeded: "Pushed", unchanged: "Already right (unchanged)", failed: "Failed", blocked: "Blocked" }[d.outcome] || d.outcome;
    document.getElementById("details-body").innerHTML = `
      <dt>Company</dt><dd>${esc(d.name)} <code>${esc(d.company)}</code></dd>
      <dt>Period</dt><dd>${esc(period)}</dd>
      <dt>Outcome</dt><dd>${esc(outcome)}</dd>
      <dt>Quantity</dt><dd>${esc(d.before || "—")} → ${esc(d.after || "—")}</dd>
      <dt>Reason</dt><dd>${esc(d.reason || "—")}</dd>
      <dt>Run</dt><dd><a href="/history/${esc(d.run)}">Run ${esc(d.run)}</a></dd>`;
    details.showModal();
  });

  // --- Preview ----------------------------------------------------------------------------------------------------
  const previewButton = document.getElementById("preview-open");
  const actionLabel = { update: "Update", unchanged: "Unchanged", skip: "Skip (not mapped)", blocked: "Blocked", error: "Error" };
  previewButton?.addEventListener("click", async () => {
    const dialog = document.getElementById("preview");
    const body = document.getElementById("preview-body");
    body.innerHTML = "<p>Reading ConnectWise…</p>";
    dialog.showModal();
    try {
      const plan = await api("POST", "/api/v1/pushes/preview", { period });
      const summary = Object.entries(plan.counts).filter(([, n]) => n).map(([a, n]) => `${n} ${actionLabel[a] || a}`).join(" · ");
      body.innerHTML = `<p><strong>${esc(summary || "Nothing to do")}</strong></p>
        <div class="dialog-scroll"><table class="grid"><thead><tr><th scope="col">Company</th><th scope="col" class="num">Billable</th>
        <th scope="col" class="num">Before</th><th scope="col" class="num">After</th><th scope="col">Action</th><th scope="col">Reason</th></tr></thead>
        <tbody>${plan.rows.map((r) => `<tr><td>${esc(r.name)}</td><td class="num">${r.billable}</td>
          <td class="num">${r.before ?? "—"}</td><td class="num">${r.after ?? "—"}</td>
          <td class="action-${esc(r.action)}">${esc(actionLabel[r.action] || r.action)}</td><td>${esc(r.reason || "")}</td></tr>`).join("")}</tbody></table></div>`;
    } catch (error) {
      body.innerHTML = `<p class="notice notice-error" role="alert">${esc(error.message)}</p>`;
    }
  });

  // --- Push Billing with live progress ----------------------------------------------------------------------------
  const pushOpen = document.getElementById("push-open");
  const confirm = document.getElementById("push-confirm");
  pushOpen?.addEventListener("click", () => confirm.showModal());
  document.getElementById("push-go")?.addEventListener("click", async () => {
    const force = document.getElementById("push-force")?.checked || false;
    confirm.close();
    pushOpen.disabled = true;
    const box = document.getElementById("push-progress");
    const bar = box.querySelector(".progress > span");
    const text = box.querySelector(".progress-text");
    box.hidden = false;
    text.textContent = "Starting…";
    try {
      const started = await api("POST", "/api/v1/pushes", { target: "connectwise", period, force });
      if (!started.run_id) { text.textContent = "Queued"; return; }
      for (;;) {
        const run = await api("GET", `/api/v1/pushes/${started.run_id}`);
        const expected = run.expected || 0;
        const pct = expected ? Math.round((100 * run.done) / expected) : 5;
        bar.style.width = `${Math.min(100, pct)}%`;
        text.textContent = expected ? `Pushing… ${run.done} of ${expected}` : "Pushing…";
        if (run.status !== "running") {
          bar.style.width = "100%";
          text.textContent = `Done: ${run.succeeded} pushed, ${run.unchanged} unchanged, ${run.failed} failed, ${run.blocked} blocked`;
          toast(run.status === "succeeded" ? "Push finished" : `Push finished: ${run.status}${run.status_reason ? " — " + run.status_reason : ""}`, run.status !== "succeeded");
          setTimeout(() => window.location.reload(), 900);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } catch (error) {
      text.textContent = "";
      box.hidden = true;
      pushOpen.disabled = false;
      toast(`Push not started: ${error.message}`, true);
    }
  });

  // --- auto-map -----------------------------------------------------------------------------------------------------
  const automap = document.getElementById("automap");
  document.getElementById("automap-open")?.addEventListener("click", async () => {
    const body = document.getElementById("automap-body");
    body.innerHTML = "<p>Looking for matches…</p>";
    automap.showModal();
    try {
      const found = await api("GET", "/api/v1/automap/suggestions");
      if (!found.length) { body.innerHTML = "<p>No suggestions: every company is mapped or has no close ConnectWise match.</p>"; return; }
      body.innerHTML = `<div class="dialog-scroll"><table class="grid"><thead><tr><th scope="col">Company</th><th scope="col">ConnectWise company</th>
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
    const above = Number(document.getElementById("automap-threshold").value);
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
      toast(`${done.companies} ConnectWise companies read`);
    } catch (error) { toast(error.message, true); } finally { event.target.disabled = false; }
  });
})();
