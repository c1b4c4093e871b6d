// The console's civil-protection pages: the alerts with the approval
// queue and the drill reports, a new alert, and one alert with its report
// and what can be done with it (approve, update, all-clear, the
// false-alarm correction). Every list and page says whether an alert is
// real or a drill and how grave. Loaded before console.js, whose helpers
// (el, t, api, field, show, since, stopRefresh, signedOut, baseMap,
// zonesOnMap, drawing, circleFields, typedCircle) these functions call.
"use strict";

const URGENCY = ["Immediate", "Expected", "Future", "Past", "Unknown"];
const SEVERITY = ["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
const CERTAINTY = ["Observed", "Likely", "Possible", "Unlikely", "Unknown"];
/// The CAP language of what an officer types, by UI language.
const CAP_LANGUAGE = { uk: "uk-UA", pl: "pl", en: "en" };
const LANGUAGE_NAMES = { "uk-UA": "Українська", pl: "Polski", en: "English" };
/// The geocode of a Tocsin zone in a CAP area (`send.rs`, ZONE_GEOCODE).
const ZONE_GEOCODE = "tocsin:zone";

/// ACTUAL ALERT / EXERCISE / TEST, in its own colour everywhere.
function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, "data-status": status }, t(status));
}

/// How grave, in the UI's language; nothing when the server knows not.
function severityBadge(severity) {
  if (!severity) return null;
  return el("span", { class: `badge severity severity-${severity}`, "data-severity": severity,
    title: t("severity") }, t(`severity_${severity}`));
}

/// The marks of an alert's notice (its `alert`): real or a drill, how grave.
function noticeMarks(alert) {
  const status = alert.real ? "Actual" : alert.marker === "exercise" ? "Exercise" : "Test";
  return el("span", { class: "marks" }, statusBadge(status), " ", severityBadge(alert.severity));
}

/// Who created or approved an alert: a person with their username, or a
/// token (another system).
function byWhom(name, kind, username) {
  if (!name) return "—";
  if (kind === "person") return `${name} (${username})`;
  if (kind === "token") return `${name} (${t("kind_token")})`;
  return name;
}

function alertState(a) {
  return t(`${a.state}_state`);
}

/// Where an alert went or came from: the Update that replaced it, the
/// Cancel that ended it, the alert an Update or Cancel follows. `page`:
/// on the alert's own page, where the links have ids.
function alertLinks(a, page) {
  const link = (id, attr, key) => el("span", {}, `${t(key)} `,
    el("a", page ? { href: `#/alerts/${id}`, id: attr } : { href: `#/alerts/${id}` }, `#${id}`));
  const parts = [];
  if (a.superseded_by) parts.push(link(a.superseded_by, "alert-superseded-by", "msg_Update"));
  if (a.ended_by) parts.push(link(a.ended_by, "alert-ended-by", "msg_Cancel"));
  if (a.references) parts.push(link(a.references, "alert-references", "follows"));
  return parts.length ? el("span", { class: "alert-links" }, " → ", ...parts.flatMap((p, i) => (i ? [" · ", p] : [p]))) : null;
}

/// "Update" or "Cancel" beside a follow-up's headline; nothing for an Alert.
function msgType(a) {
  return a.msg_type && a.msg_type !== "Alert"
    ? el("span", { class: "msg-type", "data-msg-type": a.msg_type }, t(`msg_${a.msg_type}`)) : null;
}

/// Whether the signed-in person may approve it; the server decides again.
function mayApprove(a) {
  return state.session.may_approve && a.created_by_username !== state.session.username;
}

function disableButtons(container, disabled) {
  for (const b of container.querySelectorAll("button")) b.disabled = disabled;
}

async function approve(id, error, button) {
  button.disabled = true;
  try {
    await api("POST", `/api/v1/alerts/${id}/approve`, {});
    // A changed fragment draws the page by itself (hashchange); drawing
    // it here too would draw it twice.
    const page = `#/alerts/${id}`;
    if (location.hash === page) route();
    else location.hash = page;
  } catch (e) {
    if (e.status === 401) return signedOut();
    button.disabled = false;
    error.textContent = e.message;
  }
}

/// The approve button for whoever may, else who is to approve. `id`
/// names them on an alert's own page (the queue lists many).
function approvalControl(a, error, id) {
  const named = (name) => (id ? { id: name } : {});
  if (mayApprove(a)) {
    const button = el("button", { type: "button", class: "approve", ...named("approve") }, t("approve"));
    button.addEventListener("click", () => approve(a.id, error, button));
    return button;
  }
  const officer = state.session.role === "civil_protection";
  const key = officer && !state.session.may_approve ? "needs_own_password" : "needs_second";
  const name = key.replaceAll("_", "-");
  return el("span", { class: `muted ${name}`, ...named(name) }, `(${t(key)})`);
}

async function alertsView() {
  stopRefresh();
  let alerts;
  try {
    ({ alerts } = await api("GET", "/api/v1/alerts?limit=100"));
  } catch (e) {
    if (e.status === 401) return signedOut();
    return show(el("p", { class: "error", role: "alert" }, e.message));
  }
  const error = el("p", { class: "error", role: "alert", id: "alerts-error" });
  const officer = state.session.role === "civil_protection";
  const pending = alerts.filter((a) => a.state === "pending");
  const queue = el("section", { class: "card queue", id: "approval-queue" },
    el("h2", {}, t("approval_queue")),
    pending.length ? el("ul", {}, ...pending.map((a) => el("li", { "data-alert": a.id },
      statusBadge(a.status), " ", severityBadge(a.severity), " ", msgType(a), " ",
      el("a", { href: `#/alerts/${a.id}` }, a.headline),
      ` · ${t("created_by")}: ${byWhom(a.created_by, a.created_by_kind, a.created_by_username)} · ${since(a.created_at)} `,
      approvalControl(a, error, false))))
      : el("p", { class: "muted" }, t("none")),
    error);
  const rows = alerts.map((a) => el("tr", { "data-alert": a.id, class: `status-row-${a.status}` },
    el("td", {}, statusBadge(a.status), " ", severityBadge(a.severity)),
    el("td", {}, msgType(a), a.msg_type !== "Alert" ? " " : "", el("a", { href: `#/alerts/${a.id}` }, a.headline)),
    el("td", { "data-state": a.state }, alertState(a), alertLinks(a, false)),
    el("td", {}, byWhom(a.created_by, a.created_by_kind, a.created_by_username)),
    el("td", {}, byWhom(a.approved_by, a.approved_by_kind, a.approved_by_username)),
    el("td", {}, since(a.created_at))));
  const table = el("table", { id: "alerts" },
    el("thead", {}, el("tr", {}, el("th", {}, t("marking")), el("th", {}, t("headline")), el("th", {}, t("state")),
      el("th", {}, t("created_by")), el("th", {}, t("approved_by")), el("th", {}, t("published")))),
    el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, t("no_alerts")))])));
  // Every drill that went out has a report, also once updated or ended.
  const drills = alerts.filter((a) => a.status !== "Actual" && ["sent", "superseded", "ended"].includes(a.state));
  const reports = el("section", { class: "card", id: "drill-reports" }, el("h2", {}, t("drill_reports")),
    drills.length ? el("ul", {}, ...drills.map((a) => el("li", { "data-alert": a.id },
      statusBadge(a.status), " ", severityBadge(a.severity), " ", a.headline,
      ` · ${new Date(a.sent).toLocaleString(state.lang)} · `,
      el("a", { href: `#/alerts/${a.id}` }, t("report")))))
      : el("p", { class: "muted" }, t("none")));
  show(queue, el("section", { class: "card" }, el("h1", {}, t("alerts")),
    officer ? el("p", {}, el("a", { href: "#/alerts/new", id: "new-alert" }, t("new_alert"))) : null,
    table), reports);
}

/// A select of CAP values labelled in the UI's language (`prefix_Value`).
function capSelect(name, values, prefix, selected) {
  return el("select", { name }, ...values.map((v) => el("option",
    v === selected ? { value: v, selected: "" } : { value: v }, t(`${prefix}_${v}`))));
}

/// CAP areas from ticked zones and the drawn shape ("lat,lon" pairs).
function capAreas(boxes, drawn, label) {
  const area = { area_desc: label };
  const zones = boxes.filter((b) => b.checked).map((b) => Number(b.value));
  if (zones.length) area.zones = zones;
  for (const layer of drawn.getLayers()) {
    if (layer instanceof L.Circle) {
      const c = layer.getLatLng();
      area.circles = [`${c.lat.toFixed(6)},${c.lng.toFixed(6)} ${(layer.getRadius() / 1000).toFixed(3)}`];
    } else {
      const ring = layer.getLatLngs()[0].map((p) => `${p.lat.toFixed(6)},${p.lng.toFixed(6)}`);
      ring.push(ring[0]);
      area.polygons = [ring.join(" ")];
    }
  }
  return [area];
}

async function alertComposeView() {
  stopRefresh();
  const statusSel = el("select", { name: "status" },
    ...["Actual", "Exercise", "Test"].map((v) => el("option", { value: v }, t(v))));
  const hint = el("p", { class: "status-hint", id: "status-hint" });
  const audience = el("select", { name: "audience" });
  const audienceField = field(t("audience"), audience);
  const zoneList = el("fieldset", { class: "zones" }, el("legend", {}, t("zones")));
  const error = el("p", { class: "error", role: "alert", id: "alert-error" });
  const form = el("form", { class: "card", id: "alert-form" },
    el("h1", {}, t("new_alert")),
    field(t("cap_status"), statusSel), hint, audienceField,
    field(t("language"), el("select", { name: "language" },
      ...Object.entries(LANGUAGE_NAMES).map(([v, name]) => el("option", { value: v }, name)))),
    field(t("event"), el("input", { name: "event", required: "", maxlength: "200" })),
    field(t("urgency"), capSelect("urgency", URGENCY, "urgency")),
    field(t("severity"), capSelect("severity", SEVERITY, "severity")),
    field(t("certainty"), capSelect("certainty", CERTAINTY, "certainty")),
    field(t("headline"), el("input", { name: "headline", required: "", maxlength: "200" })),
    field(t("instruction"), el("input", { name: "instruction", maxlength: "500" })),
    el("p", { class: "muted" }, t("draw_hint")), zoneList, circleFields(), error,
    el("div", { class: "actions" }, el("button", { type: "submit", id: "create-alert" }, t("create_alert"))));
  const mapDiv = el("div", { id: "map", class: "map", "aria-label": t("area") });
  show(el("div", { class: "compose" }, mapDiv, form));
  const paint = () => {
    const s = statusSel.value;
    form.dataset.status = s;
    hint.textContent = t(`status_hint_${s}`);
    audienceField.hidden = s === "Actual";
  };
  statusSel.addEventListener("change", paint);
  paint();
  const { audiences } = await api("GET", "/api/v1/audiences");
  audience.replaceChildren(...audiences.map((a) => el("option", { value: a.name }, `${a.name} (${a.members.length})`)));
  const map = await baseMap(mapDiv);
  const boxes = await zonesOnMap(map, zoneList);
  const drawn = drawing(map, () => {});
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    const areas = capAreas(boxes, drawn, data.get("headline"));
    const typed = typedCircle(data);
    if (typed) areas[0].circles = [`${typed.lat},${typed.lon} ${typed.radius_m / 1000}`];
    if (!areas[0].zones && !areas[0].polygons && !areas[0].circles) {
      error.textContent = t("need_area");
      return;
    }
    const info = {
      language: data.get("language"), event: data.get("event"), urgency: data.get("urgency"),
      severity: data.get("severity"), certainty: data.get("certainty"), headline: data.get("headline"),
      instruction: data.get("instruction") || undefined, areas,
    };
    const body = { status: data.get("status"), infos: [info] };
    if (body.status !== "Actual" && data.get("audience")) body.audience = data.get("audience");
    try {
      const created = await api("POST", "/api/v1/alerts", body);
      location.hash = `#/alerts/${created.id}`;
    } catch (e) {
      error.textContent = e.message;
    }
  });
}

// --- one alert: its report and what can be done with it ------------------

function reportTable(channels) {
  const rows = Object.entries(channels).map(([ch, r]) => el("tr", { "data-channel": ch },
    el("th", { scope: "row" }, ch), el("td", { "data-state": "recipients" }, String(r.recipients)),
    el("td", { "data-state": "in_progress" }, String(r.in_progress)), el("td", { "data-state": "sent" }, String(r.sent)),
    el("td", {}, String(r.delivered)), el("td", {}, String(r.acknowledged)), el("td", {}, String(r.failed))));
  return el("table", { id: "alert-report" },
    el("thead", {}, el("tr", {}, el("th", {}, t("channel")), el("th", {}, t("recipients")), el("th", {}, t("in_progress")),
      el("th", {}, t("sent")), el("th", {}, t("delivered")), el("th", {}, t("acknowledged")), el("th", {}, t("failed")))),
    el("tbody", {}, ...rows));
}

/// The children of a CAP element with this local name (CAP 1.2 has a
/// default namespace), and the trimmed text of the first.
function capKids(node, name) {
  return Array.from(node.children).filter((c) => c.localName === name);
}

function capText(node, name) {
  const found = capKids(node, name)[0];
  return found ? found.textContent.trim() : "";
}

/// The areas of every info, each once, as the JSON API takes them.
function capAreasOf(infos) {
  const seen = new Set();
  const out = [];
  for (const area of infos.flatMap((i) => capKids(i, "area"))) {
    const a = {
      area_desc: capText(area, "areaDesc"),
      polygons: capKids(area, "polygon").map((p) => p.textContent.trim()),
      circles: capKids(area, "circle").map((c) => c.textContent.trim()),
      zones: capKids(area, "geocode").filter((g) => capText(g, "valueName") === ZONE_GEOCODE)
        .map((g) => Number(capText(g, "value"))).filter(Number.isSafeInteger),
    };
    const key = JSON.stringify(a);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(a);
    }
  }
  return out;
}

/// The one info of an Update of `a`, in the UI's language: the officer's
/// headline, instruction and severity; the event, urgency, certainty,
/// categories, expiry and areas of the alert's own CAP document (its info
/// in this language, else its first).
async function updateInfo(a, data) {
  const res = await fetch(`/api/v1/alerts/${a.id}.cap`, { credentials: "same-origin" });
  if (!res.ok) throw new ApiError(res.status, null);
  const doc = new DOMParser().parseFromString(await res.text(), "application/xml");
  const root = doc.documentElement;
  const infos = root && root.localName === "alert" ? capKids(root, "info") : [];
  if (doc.getElementsByTagName("parsererror").length || !infos.length) throw new Error(t("cap_unreadable"));
  const primary = (tag) => tag.split(/[-_]/)[0].toLowerCase();
  const mine = infos.find((i) => primary(capText(i, "language") || "en-US") === state.lang);
  const from = mine || infos[0];
  const info = {
    language: mine ? capText(mine, "language") || "en-US" : CAP_LANGUAGE[state.lang],
    event: capText(from, "event"), urgency: capText(from, "urgency"), certainty: capText(from, "certainty"),
    severity: data.get("severity"), headline: data.get("headline"),
    instruction: data.get("instruction") || undefined, areas: capAreasOf(infos),
  };
  const categories = capKids(from, "category").map((c) => c.textContent.trim());
  if (categories.length) info.categories = categories;
  const expires = capText(from, "expires");
  if (expires && Date.parse(expires) > Date.now()) info.expires = expires;
  return info;
}

/// What became of an update, all-clear or correction just asked for:
/// waiting for a second person, or sent.
function followUpNote(label, made) {
  const pending = made.state === "pending";
  return el("p", { id: "follow-up", class: `follow-up ${pending ? "pending" : "sent"}`, "data-state": made.state, role: "status" },
    el("a", { href: `#/alerts/${made.id}`, id: "follow-up-link" }, `${t(label)} #${made.id}`),
    `: ${t(pending ? "follow_up_pending" : "follow_up_sent")}`);
}

/// Asks for an Update, all-clear or correction of `a` once (its buttons
/// wait for the answer), then shows the alert with what became of it.
async function followUp(a, path, body, label, controls, error) {
  error.textContent = "";
  disableButtons(controls, true);
  let made;
  try {
    made = await api("POST", `/api/v1/alerts/${a.id}/${path}`, body);
  } catch (e) {
    if (e.status === 401) return signedOut();
    disableButtons(controls, false);
    error.textContent = e.message;
    return;
  }
  alertView(a.id, followUpNote(label, made));
}

function updateForm(a, controls, error) {
  const form = el("form", { class: "event", id: "alert-update-form", hidden: "" },
    el("h2", {}, t("update")),
    field(t("headline"), el("input", { name: "headline", required: "", maxlength: "200" })),
    field(t("instruction"), el("input", { name: "instruction", maxlength: "500" })),
    field(t("severity"), capSelect("severity", SEVERITY, "severity", a.severity)),
    el("button", { type: "submit", id: "send-update" }, t("send_update")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    // One update per submit, even while the CAP document loads.
    disableButtons(controls, true);
    let info;
    try {
      info = await updateInfo(a, new FormData(form));
    } catch (e) {
      if (e.status === 401) return signedOut();
      disableButtons(controls, false);
      error.textContent = e.message;
      return;
    }
    followUp(a, "update", { infos: [info] }, "follow_update", controls, error);
  });
  return form;
}

/// Approve a pending alert; update, end or correct one in effect.
function alertActions(a, error) {
  const controls = el("div", { class: "alert-controls" });
  const actions = el("div", { class: "actions", id: "alert-actions" });
  controls.append(actions);
  if (a.state === "pending") actions.append(approvalControl(a, error, true));
  const officer = state.session.role === "civil_protection";
  if (officer && a.state === "sent" && a.msg_type !== "Cancel") {
    const form = updateForm(a, controls, error);
    const toggle = () => {
      form.hidden = !form.hidden;
      if (!form.hidden) form.querySelector("input").focus();
    };
    actions.append(
      el("button", { type: "button", id: "update-alert", class: "secondary", onclick: toggle }, t("update")),
      el("button", { type: "button", id: "all-clear",
        onclick: () => followUp(a, "all-clear", {}, "follow_all_clear", controls, error) }, t("all_clear")),
      el("button", { type: "button", id: "cancel-alert", class: "secondary",
        onclick: () => followUp(a, "cancel", {}, "follow_cancel", controls, error) }, t("cancel_alert")));
    controls.append(form);
  }
  return controls;
}

async function audienceLine(a) {
  const { audiences } = await api("GET", "/api/v1/audiences");
  const found = audiences.find((x) => x.id === a.audience);
  return el("p", { id: "alert-audience" }, `${t("test_audience")}: ${found ? found.name : a.audience}`,
    a.widened ? ` (${t("widened")})` : "");
}

/// Counts the calls of `alertView`: only the latest draws the page.
let alertTurn = 0;

/// One alert: its marks, state and people, what can be done with it, and
/// its delivery report, refreshed while it may still change. `note` says
/// what became of a follow-up just asked for.
async function alertView(id, note) {
  stopRefresh();
  // A hash change and an explicit route() may both ask for the page.
  const turn = ++alertTurn;
  const here = location.hash;
  const current = () => turn === alertTurn && location.hash === here;
  let report, audience = null;
  try {
    report = await api("GET", `/api/v1/alerts/${id}/report`);
    if (report.alert.audience) audience = await audienceLine(report.alert);
  } catch (e) {
    if (e.status === 401) return signedOut();
    return show(el("p", { class: "error", role: "alert" }, e.message));
  }
  if (!current()) return;
  const a = report.alert;
  const error = el("p", { class: "error", role: "alert", id: "alert-error" });
  const slot = el("div", { id: "alert-report-slot" }, reportTable(report.channels));
  show(el("section", { class: `card alert status-${a.status}`, "data-status": a.status },
    el("h1", {}, statusBadge(a.status), " ", severityBadge(a.severity), " ", msgType(a), " ", a.headline), audience,
    el("p", {}, `${t("state")}: `, el("strong", { id: "alert-state", "data-state": a.state }, alertState(a)), alertLinks(a, true),
      ` · ${t("created_by")}: `, el("span", { id: "alert-created-by" }, byWhom(a.created_by, a.created_by_kind, a.created_by_username)),
      a.approved_by ? ` · ${t("approved_by")}: ` : "",
      a.approved_by ? el("span", { id: "alert-approved-by" }, byWhom(a.approved_by, a.approved_by_kind, a.approved_by_username)) : ""),
    note || null, alertActions(a, error), error, slot));
  if (!["pending", "sent", "superseded"].includes(a.state)) return;
  const timer = setInterval(async () => {
    if (!current()) return clearInterval(timer);
    let fresh;
    try {
      fresh = await api("GET", `/api/v1/alerts/${id}/report`);
    } catch (_) {
      return; // the next tick asks again
    }
    if (!current()) return;
    // A new state brings other actions: draw the page again.
    if (fresh.alert.state !== a.state) alertView(id);
    else slot.replaceChildren(reportTable(fresh.channels));
  }, 5000);
  state.timer = timer;
}
