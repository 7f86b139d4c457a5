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
