// The operator console: a small script over the JSON API. It signs in
// with a session cookie and sends the session's CSRF token with every
// request that changes something. Text from the server is only ever set
// as textContent, never parsed as HTML.
"use strict";

const TEXT = {
  uk: {
    language: "Мова", loading: "Завантаження…", sign_in: "Увійти", sign_out: "Вийти",
    username: "Ім'я користувача", password: "Пароль", sign_in_title: "Вхід до консолі",
    notices: "Повідомлення", no_notices: "Повідомлень ще немає.", title: "Назва",
    kind: "Тип", status: "Стан", published: "Опубліковано", deliveries: "Доставка",
    planned: "планові", unplanned: "позапланові", emergency: "аварійні",
    active: "діє", closed: "закрите", overdue: "прострочене",
    queued: "у черзі", sending: "надсилається", sent: "надіслано", delivered: "доставлено",
    failed: "не вдалося", acknowledged: "підтверджено", pending: "очікує", expired: "застаріло",
    ago: "тому", min: "хв", h: "год", updated: "Оновлено",
    role_admin: "адміністратор", role_executor: "виконавець", role_civil_protection: "цивільний захист",
  },
  pl: {
    language: "Język", loading: "Ładowanie…", sign_in: "Zaloguj", sign_out: "Wyloguj",
    username: "Nazwa użytkownika", password: "Hasło", sign_in_title: "Logowanie do konsoli",
    notices: "Komunikaty", no_notices: "Brak komunikatów.", title: "Tytuł",
    kind: "Rodzaj", status: "Stan", published: "Opublikowano", deliveries: "Doręczenia",
    planned: "planowe", unplanned: "nieplanowe", emergency: "awaryjne",
    active: "aktywny", closed: "zamknięty", overdue: "po terminie",
    queued: "w kolejce", sending: "wysyłanie", sent: "wysłano", delivered: "doręczono",
    failed: "nieudane", acknowledged: "potwierdzono", pending: "oczekuje", expired: "wygasło",
    ago: "temu", min: "min", h: "godz.", updated: "Zaktualizowano",
    role_admin: "administrator", role_executor: "wykonawca", role_civil_protection: "ochrona ludności",
  },
  en: {
    language: "Language", loading: "Loading…", sign_in: "Sign in", sign_out: "Sign out",
    username: "Username", password: "Password", sign_in_title: "Sign in to the console",
    notices: "Notices", no_notices: "No notices yet.", title: "Title",
    kind: "Kind", status: "Status", published: "Published", deliveries: "Deliveries",
    planned: "planned", unplanned: "unplanned", emergency: "emergency",
    active: "active", closed: "closed", overdue: "overdue",
    queued: "queued", sending: "sending", sent: "sent", delivered: "delivered",
    failed: "failed", acknowledged: "acknowledged", pending: "pending", expired: "expired",
    ago: "ago", min: "min", h: "h", updated: "Updated",
    role_admin: "admin", role_executor: "executor", role_civil_protection: "civil protection",
  },
};

const state = { lang: "uk", session: null, timer: null };

function t(key) {
  return (TEXT[state.lang] && TEXT[state.lang][key]) || TEXT.en[key] || key;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf_token;
  const res = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function show(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren(...nodes);
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.getElementById("lang").value = state.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  const who = document.getElementById("who");
  who.textContent = state.session
    ? `${state.session.name} · ${t("role_" + state.session.role)}` : "";
  document.getElementById("sign-out").hidden = !state.session;
}

function signInView(message) {
  stopRefresh();
  const error = el("p", { class: "error", role: "alert", id: "sign-in-error" }, message || "");
  const form = el("form", { class: "card", id: "sign-in" },
    el("h1", {}, t("sign_in_title")),
    el("label", { class: "field" }, el("span", {}, t("username")),
      el("input", { name: "username", autocomplete: "username", required: "", autofocus: "" })),
    el("label", { class: "field" }, el("span", {}, t("password")),
      el("input", { name: "password", type: "password", autocomplete: "current-password", required: "" })),
    error,
    el("button", { type: "submit" }, t("sign_in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    try {
      state.session = await api("POST", "/api/v1/session",
        { username: data.get("username"), password: data.get("password") });
      applyLanguage();
      noticesView();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  show(form);
  form.querySelector("input").focus();
}

function since(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 120) return `${minutes} ${t("min")} ${t("ago")}`;
  return `${Math.round(minutes / 60)} ${t("h")} ${t("ago")}`;
}

const SHOWN_STATES = ["pending", "queued", "sending", "sent", "delivered", "acknowledged", "failed", "expired"];

function counts(summary) {
  const cell = el("div", { class: "counts" });
  for (const s of SHOWN_STATES) {
    const n = summary.by_state[s];
    if (n) cell.append(el("span", { class: s, "data-state": s }, `${t(s)}: ${n}`));
  }
  if (!cell.childNodes.length) cell.append(el("span", { class: "muted" }, "—"));
  return cell;
}

async function noticesView() {
  stopRefresh();
  const table = el("table", { id: "notices" },
    el("thead", {}, el("tr", {},
      el("th", {}, t("title")), el("th", {}, t("kind")), el("th", {}, t("status")),
      el("th", {}, t("published")), el("th", {}, t("deliveries")))),
    el("tbody"));
  const stamp = el("p", { class: "muted", id: "updated" });
  show(el("section", { class: "card" }, el("h1", {}, t("notices")), table, stamp));
  const refresh = async () => {
    try {
      const { notices } = await api("GET", "/api/v1/notices?limit=50");
      const rows = await Promise.all(notices.map(async (n) => {
        const summary = await api("GET", `/api/v1/notices/${n.id}/deliveries/summary`);
        const overdue = n.status === "active" && n.expected_end && Date.parse(n.expected_end) < Date.now();
        return el("tr", { class: overdue ? "overdue" : "", "data-notice": n.id },
          el("td", {}, n.title),
          el("td", { class: "kind-" + n.kind }, t(n.kind)),
          el("td", {}, overdue ? t("overdue") : t(n.status)),
          el("td", {}, since(n.created_at)),
          el("td", {}, counts(summary)));
      }));
      table.tBodies[0].replaceChildren(...(rows.length ? rows
        : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, t("no_notices")))]));
      stamp.textContent = `${t("updated")}: ${new Date().toLocaleTimeString(state.lang)}`;
    } catch (e) {
      if (e.status === 401) { state.session = null; applyLanguage(); signInView(); }
    }
  };
  await refresh();
  state.timer = setInterval(refresh, 5000);
}

function stopRefresh() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

async function boot() {
  const saved = localStorage.getItem("tocsin.lang");
  state.lang = TEXT[saved] ? saved : (navigator.language || "uk").slice(0, 2);
  if (!TEXT[state.lang]) state.lang = "en";
  document.getElementById("lang").addEventListener("change", (ev) => {
    state.lang = ev.target.value;
    localStorage.setItem("tocsin.lang", state.lang);
    applyLanguage();
    if (state.session) noticesView(); else signInView();
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    try { await api("DELETE", "/api/v1/session"); } catch (_) { /* signed out anyway */ }
    state.session = null;
    applyLanguage();
    signInView();
  });
  try {
    state.session = await api("GET", "/api/v1/session");
  } catch (_) {
    state.session = null;
  }
  applyLanguage();
  if (state.session) noticesView(); else signInView();
}

document.addEventListener("DOMContentLoaded", boot);
