// The resident page: what is happening now (map and list), the feeds,
// and subscribing with a one-time code. Server text is only ever set as
// textContent.
"use strict";

const TEXT = {
  uk: {
    quiet: "Тихі години (не для аварій і тривог)", quiet_city: "як у місті", quiet_off: "без тихих годин",
    tagline: "Відключення, роботи й тривоги у вашому місті", language: "Мова",
    now: "Зараз і найближчим часом", category: "Категорія", all: "усі", atom: "Стрічка тривог (Atom)",
    calendars: "Календар планових робіт для зони", subscribe: "Підписатися",
    subscribe_hint: "Позначте зони або клацніть на карті, де ви живете.", zones: "Зони",
    categories: "Про що повідомляти", sub_language: "Мова повідомлень", channel: "Як повідомляти",
    sms: "SMS", email: "Ел. пошта", address: "Телефон або ел. пошта", send_code: "Надіслати код",
    code: "Код із повідомлення", confirm: "Підтвердити",
    subscribed: "Готово: ви підписані. Посилання для керування підпискою надіслано вам.",
    point: "Ваша точка", no_notices: "Зараз нічого не заплановано.", until: "до",
    water: "вода", heating: "тепло", power: "електрика", gas: "газ", roads: "дороги", transport: "транспорт", other: "інше",
    planned: "планові", unplanned: "позапланові", emergency: "аварійні", code_sent: "Код надіслано. Введіть його нижче.",
  },
  pl: {
    quiet: "Godziny ciszy (nie dotyczą awarii i alarmów)", quiet_city: "jak w mieście", quiet_off: "bez godzin ciszy",
    tagline: "Wyłączenia, prace i alarmy w Twoim mieście", language: "Język",
    now: "Teraz i wkrótce", category: "Kategoria", all: "wszystkie", atom: "Kanał alarmów (Atom)",
    calendars: "Kalendarz prac planowych dla strefy", subscribe: "Subskrybuj",
    subscribe_hint: "Zaznacz strefy albo kliknij na mapie, gdzie mieszkasz.", zones: "Strefy",
    categories: "O czym powiadamiać", sub_language: "Język wiadomości", channel: "Jak powiadamiać",
    sms: "SMS", email: "E-mail", address: "Telefon lub e-mail", send_code: "Wyślij kod",
    code: "Kod z wiadomości", confirm: "Potwierdź",
    subscribed: "Gotowe: subskrypcja aktywna. Link do zarządzania wysłaliśmy do Ciebie.",
    point: "Twój punkt", no_notices: "Nic nie jest teraz zaplanowane.", until: "do",
    water: "woda", heating: "ciepło", power: "prąd", gas: "gaz", roads: "drogi", transport: "transport", other: "inne",
    planned: "planowe", unplanned: "nieplanowe", emergency: "awaryjne", code_sent: "Kod wysłany. Wpisz go poniżej.",
  },
  en: {
    quiet: "Quiet hours (not for emergencies and alerts)", quiet_city: "the city's", quiet_off: "none",
    tagline: "Outages, works and alerts in your city", language: "Language",
    now: "Now and soon", category: "Category", all: "all", atom: "Alerts feed (Atom)",
    calendars: "Planned works calendar for a zone", subscribe: "Subscribe",
    subscribe_hint: "Tick zones, or click on the map where you live.", zones: "Zones",
    categories: "What to tell you about", sub_language: "Language of messages", channel: "How to reach you",
    sms: "SMS", email: "Email", address: "Phone or email", send_code: "Send code",
    code: "Code from the message", confirm: "Confirm",
    subscribed: "Done: you are subscribed. A link to manage it has been sent to you.",
    point: "Your point", no_notices: "Nothing planned right now.", until: "until",
    water: "water", heating: "heating", power: "power", gas: "gas", roads: "roads", transport: "transport", other: "other",
    planned: "planned", unplanned: "unplanned", emergency: "emergency", code_sent: "Code sent. Type it below.",
  },
};
const CATEGORIES = ["water", "heating", "power", "gas", "roads", "transport", "other"];
const state = { lang: "uk", map: null, layers: null, point: null, marker: null, verification: null };

function t(k) { return (TEXT[state.lang] && TEXT[state.lang][k]) || TEXT.en[k] || k; }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

async function call(method, path, body) {
  const res = await fetch(path, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
  return data;
}

function when(n) {
  const fmt = (iso) => new Date(iso).toLocaleString(state.lang, { dateStyle: "short", timeStyle: "short" });
  return n.expected_end ? `${fmt(n.starts_at)} – ${fmt(n.expected_end)}` : fmt(n.starts_at);
}

function drawArea(area, style) {
  const group = L.featureGroup();
  for (const g of area.regions || []) L.geoJSON(g, { style }).addTo(group);
  for (const c of area.circles || []) L.circle([c.lat, c.lon], { radius: c.radius_m, ...style }).addTo(group);
  return group;
}

async function showNotices() {
  const category = document.getElementById("category").value;
  const { notices, alerts } = await call("GET", `/api/v1/public/notices${category ? `?category=${category}` : ""}`);
  document.getElementById("alerts").replaceChildren(...alerts.map((a) =>
    el("div", { class: "alert", "data-alert": a.id }, a.headline, " ", el("a", { href: a.cap_url }, "CAP"))));
  const list = document.getElementById("notices");
  list.replaceChildren(...(notices.length ? notices.map((n) => el("li", { "data-notice": n.id },
    el("strong", {}, n.title), el("br"),
    el("span", { class: "kind-" + n.kind }, t(n.kind)), ` · ${t(n.category)} · `,
    el("span", { class: "when" }, when(n)))) : [el("li", { class: "muted" }, t("no_notices"))]));
  state.layers.clearLayers();
  for (const n of notices) {
    const color = n.kind === "emergency" ? "#b3261e" : n.kind === "unplanned" ? "#a15c00" : "#0b5cad";
    // Leaflet reads a string tooltip as markup: a title is text.
    drawArea(n.area, { color, weight: 2, fillOpacity: 0.2 })
      .bindTooltip(document.createTextNode(n.title)).addTo(state.layers);
  }
}

async function setUp() {
  const map = L.map("map", { zoomSnap: 0.5 });
  state.map = map;
  state.layers = L.featureGroup().addTo(map);
  const config = await call("GET", "/config.json");
  if (config.tile_url) L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "" }).addTo(map);
  map.setView([50.45, 30.52], 6);
  const { zones } = await call("GET", "/api/v1/public/zones");
  const bounds = L.latLngBounds([]);
  const zoneBoxes = document.getElementById("zones");
  const calendars = document.getElementById("calendars");
  for (const z of zones) {
    const layer = L.geoJSON(z.geometry, { style: { color: "#5b6470", weight: 1, fillOpacity: 0 } }).addTo(map);
    bounds.extend(layer.getBounds());
    zoneBoxes.append(el("label", {}, el("input", { type: "checkbox", name: "zone", value: z.id }), " ", z.name));
    calendars.append(el("li", {}, el("a", { href: `/feeds/zones/${z.id}.ics` }, z.name)));
  }
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
  map.on("click", (e) => {
    state.point = e.latlng;
    if (state.marker) state.marker.remove();
    state.marker = L.circleMarker(e.latlng, { radius: 8, color: "#1e7d32" }).addTo(map);
    document.getElementById("point").textContent =
      `${t("point")}: ${e.latlng.lat.toFixed(5)}, ${e.latlng.lng.toFixed(5)}`;
  });
  const categorySelect = document.getElementById("category");
  categorySelect.append(el("option", { value: "" }, t("all")),
    ...CATEGORIES.map((c) => el("option", { value: c, "data-t": c }, t(c))));
  categorySelect.addEventListener("change", showNotices);
  document.getElementById("categories").append(...CATEGORIES.map((c) =>
    el("label", {}, el("input", { type: "checkbox", name: "category", value: c, checked: "" }), " ",
      el("span", { "data-t": c }, t(c)))));
  await showNotices();
  setInterval(showNotices, 60000);
}

function subscribeForms() {
  const form = document.getElementById("subscribe");
  const verify = document.getElementById("verify");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = document.getElementById("subscribe-error");
    error.textContent = "";
    const data = new FormData(form);
    const body = {
      language: data.get("language"),
      zones: data.getAll("zone").map(Number),
      categories: data.getAll("category"),
      contact: { channel: data.get("channel"), address: data.get("address").trim() },
    };
    if (state.point) body.location = { lat: state.point.lat, lon: state.point.lng };
    if (data.get("quiet_hours")) body.quiet_hours = data.get("quiet_hours");
    try {
      const r = await call("POST", "/api/v1/public/subscriptions", body);
      state.verification = r.verification_id;
      error.textContent = "";
      verify.hidden = false;
      verify.querySelector("input").focus();
      document.getElementById("code-sent").textContent = t("code_sent");
    } catch (e) {
      error.textContent = e.message;
    }
  });
  verify.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = document.getElementById("verify-error");
    try {
      await call("POST", `/api/v1/public/subscriptions/${state.verification}/verify`,
        { code: new FormData(verify).get("code") });
      form.hidden = true;
      verify.hidden = true;
      document.getElementById("subscribed").hidden = false;
    } catch (e) {
      error.textContent = e.message;
    }
  });
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.getElementById("lang").value = state.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
}

document.addEventListener("DOMContentLoaded", async () => {
  const saved = localStorage.getItem("tocsin.lang");
  const asked = (navigator.language || "uk").slice(0, 2);
  state.lang = TEXT[saved] ? saved : TEXT[asked] ? asked : "en";
  document.getElementById("lang").addEventListener("change", (ev) => {
    state.lang = ev.target.value;
    localStorage.setItem("tocsin.lang", state.lang);
    applyLanguage();
    showNotices();
  });
  subscribeForms();
  await setUp();
  applyLanguage();
});
