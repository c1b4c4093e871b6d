// The console's people pages: an enrolment link (`/console#enrol=TOKEN`)
// where a person chooses their own password, and the admin's accounts
// page, which shows a new account's link once. Loaded before console.js,
// whose helpers (el, t, api, field, show) these functions call.
"use strict";

/// The token of an enrolment link, taken out of the address (and so out
/// of the browser's history) as soon as the page has it.
function takeEnrolToken() {
  const m = /^#enrol=([A-Za-z0-9_-]{20,100})$/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname);
  return m[1];
}

/// The owner of a new account (or of a lost password) chooses it here.
function enrolView(token) {
  stopRefresh();
  const error = el("p", { class: "error", role: "alert", id: "enrol-error" });
  const form = el("form", { class: "card", id: "enrol" },
    el("h1", {}, t("enrol_title")),
    el("p", { class: "muted" }, t("enrol_hint")),
    field(t("new_password"), el("input", { name: "password", type: "password",
      autocomplete: "new-password", required: "", minlength: "12", maxlength: "128" })),
    field(t("repeat_password"), el("input", { name: "repeat", type: "password",
      autocomplete: "new-password", required: "" })),
    error,
    el("button", { type: "submit" }, t("set_password")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    if (data.get("password") !== data.get("repeat")) {
      error.textContent = t("passwords_differ");
      return;
    }
    try {
      state.session = await api("POST", "/api/v1/enrolment", { token, password: data.get("password") });
    } catch (e) {
      error.textContent = e.message;
      return;
    }
    applyLanguage();
    show(el("section", { class: "card", id: "enrolled" },
      el("h1", {}, t("enrolled_ok")),
      el("p", {}, `${t("your_username")}: `, el("strong", { id: "enrolled-username" }, state.session.username)),
      el("p", {}, el("a", { href: "#/notices", id: "enrolled-continue" }, t("continue")))));
  });
  show(form);
  form.querySelector("input").focus();
}

// --- console accounts (admin) ---------------------------------------------

const ROLES = ["civil_protection", "executor", "admin"];

/// The link of a new account or of a lost password, shown this once.
function issuedLink(a) {
  return el("section", { class: "card", id: "enrolment-link" },
    el("p", {}, `${t("link_once")} (${a.username}). ${t("link_until")} `,
      new Date(a.enrolment.expires_at).toLocaleString(state.lang), `. ${t("link_not_again")}`),
    el("input", { id: "enrolment-url", readonly: "", value: a.enrolment.url }));
}

async function accountsView(issued) {
  stopRefresh();
  let accounts, organisations;
  try {
    ({ accounts } = await api("GET", "/api/v1/accounts"));
    organisations = await api("GET", "/api/v1/organisations");
  } catch (e) {
    if (e.status === 401) return signedOut();
    return show(el("p", { class: "error", role: "alert" }, e.message));
  }
  const error = el("p", { class: "error", role: "alert", id: "account-error" });
  const reissue = async (a) => {
    try {
      accountsView(await api("POST", `/api/v1/accounts/${a.id}/enrolment`, {}));
    } catch (e) {
      error.textContent = e.message;
    }
  };
  const rows = accounts.map((a) => el("tr", { "data-account": a.id },
    el("td", {}, a.username), el("td", {}, a.display_name), el("td", {}, t("role_" + a.role)),
    el("td", { "data-password": a.password_state }, t("pw_" + a.password_state)),
    el("td", {}, el("button", { type: "button", class: "secondary new-link", onclick: () => reissue(a) }, t("new_link")))));
  const org = el("select", { name: "organisation_id" },
    ...organisations.map((o) => el("option", { value: String(o.id) }, o.name)));
  const orgField = field(t("organisation"), org);
  const role = el("select", { name: "role" }, ...ROLES.map((r) => el("option", { value: r }, t("role_" + r))));
  const form = el("form", { class: "card", id: "account-form" },
    el("h2", {}, t("new_account")),
    field(t("username"), el("input", { name: "username", required: "", autocomplete: "off", maxlength: "64" })),
    field(t("name"), el("input", { name: "name", maxlength: "100" })),
    field(t("role"), role), orgField, error,
    el("button", { type: "submit", id: "create-account" }, t("create_account")));
  const paint = () => { orgField.hidden = role.value !== "executor"; };
  role.addEventListener("change", paint);
  paint();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const body = { username: data.get("username"), role: data.get("role") };
    if (data.get("name")) body.name = data.get("name");
    if (body.role === "executor") body.organisation_id = Number(data.get("organisation_id"));
    try {
      accountsView(await api("POST", "/api/v1/accounts", body));
    } catch (e) {
      error.textContent = e.message;
    }
  });
  show(issued ? issuedLink(issued) : "",
    el("section", { class: "card" }, el("h1", {}, t("accounts")),
      el("table", { id: "accounts" },
        el("thead", {}, el("tr", {}, el("th", {}, t("username")), el("th", {}, t("name")),
          el("th", {}, t("role")), el("th", {}, t("password_state")), el("th", {}, ""))),
        el("tbody", {}, ...rows))),
    form);
}
