// The operator console: a small script over the JSON API. It signs in
// with a session cookie and sends the session's CSRF token with every
// request that changes something. Text from the server is only ever set
// as textContent, never parsed as HTML. An enrolment link
// (`/console#enrol=TOKEN`) opens the page where a person chooses their
// own password; the token stays in the fragment, which no server sees.
"use strict";

const TEXT = {
  uk: {
    enrol_title: "Оберіть свій пароль", enrol_hint: "Посилання діє один раз. Пароль, який ви оберете (12–128 символів), не дізнається ніхто інший, навіть адміністратор.",
    new_password: "Новий пароль", repeat_password: "Повторіть пароль", passwords_differ: "Паролі не збігаються.",
    set_password: "Встановити пароль", enrolled_ok: "Пароль встановлено.", your_username: "Ваше ім'я для входу", continue: "Далі",
    nav_accounts: "Облікові записи", accounts: "Облікові записи консолі", new_account: "Новий обліковий запис",
    name: "Ім'я", role: "Роль", organisation: "Організація", create_account: "Створити обліковий запис",
    new_link: "Нове посилання", link_once: "Передайте це посилання власникові облікового запису", link_until: "Воно діє один раз, до",
    link_not_again: "Більше його не буде показано.", password_state: "Пароль", pw_none: "ще не встановлено",
    pw_set_by_admin: "встановив адміністратор", pw_own: "власний", kind_token: "токен",
    needs_own_password: "затверджувати може лише черговий із власним паролем: попросіть у адміністратора посилання",
    circle_by_numbers: "Або коло за координатами", lat: "Широта", lon: "Довгота", radius_m: "Радіус, м",
    drill_reports: "Звіти навчань і перевірок", report: "звіт",
    nav_journal: "Журнал", nav_checks: "Перевірки", journal: "Журнал", checks: "Перевірки системи оповіщення",
    when: "Коли", actor: "Хто", action: "Дія", subject: "Об'єкт", next_run: "Наступна", last_result: "Останній результат",
    schedule: "Розклад", missed: "пропущено", no_checks: "Перевірок не налаштовано.", test_audience: "Тестова аудиторія",
    nav_alerts: "Тривоги", alerts: "Тривоги", new_alert: "Нова тривога", approval_queue: "Чекають на затвердження",
    approve: "Затвердити", needs_second: "затверджує інший черговий", state: "Стан", created_by: "Створив",
    approved_by: "Затвердив", headline: "Заголовок", instruction: "Що робити", event: "Подія",
    urgency: "Терміновість", severity: "Серйозність", certainty: "Достовірність", audience: "Тестова аудиторія",
    Actual: "РЕАЛЬНА ТРИВОГА", Exercise: "НАВЧАННЯ", Test: "ТЕСТ", Draft: "ЧЕРНЕТКА", System: "СИСТЕМНЕ", status_hint_Actual: "Надійде всім у межах території після затвердження іншим черговим.",
    status_hint_Exercise: "Навчання: лише тестовій аудиторії, з позначкою НАВЧАННЯ.", status_hint_Test: "Тест: лише тестовій аудиторії, з позначкою ТЕСТ.",
    create_alert: "Створити тривогу", cancel_alert: "Скасувати (хибна тривога)", pending_state: "чекає", sent_state: "надіслано",
    recorded_state: "записано", expired_state: "не затверджено вчасно", superseded_state: "замінено оновленням",
    ended_state: "завершено", in_progress: "у процесі", no_alerts: "Тривог немає.",
    severity_Extreme: "Надзвичайна", severity_Severe: "Висока", severity_Moderate: "Помірна", severity_Minor: "Низька", severity_Unknown: "Невідома",
    urgency_Immediate: "Негайно", urgency_Expected: "Незабаром", urgency_Future: "Згодом", urgency_Past: "Минуло", urgency_Unknown: "Невідомо",
    certainty_Observed: "Спостерігається", certainty_Likely: "Імовірно", certainty_Possible: "Можливо", certainty_Unlikely: "Малоймовірно", certainty_Unknown: "Невідомо",
    msg_Alert: "Тривога", msg_Update: "Оновлення", msg_Cancel: "Відбій/скасування", follows: "стосується тривоги", marking: "Позначка", cap_status: "Статус (CAP)",
    all_clear: "Відбій тривоги", send_update: "Надіслати оновлення", widened: "розширено на всю територію",
    follow_up_pending: "чекає на затвердження іншим черговим", follow_up_sent: "надіслано",
    follow_update: "Оновлення", follow_all_clear: "Відбій тривоги", follow_cancel: "Скасування хибної тривоги",
    cap_unreadable: "Не вдалося прочитати CAP-документ тривоги.", civil: "цивільний захист",
    alert_notice: "Це повідомлення тривоги: оновити її чи дати відбій можна лише на сторінці тривоги.", open_alert: "Відкрити тривогу",
    http_error: "Помилка HTTP", check_name: "Перевірка",
    nav_notices: "Повідомлення", nav_compose: "Нове повідомлення", compose: "Нове повідомлення",
    category: "Категорія", cause: "Причина", starts_at: "Початок", expected_end: "Очікуване завершення",
    water: "вода", heating: "тепло", power: "електрика", gas: "газ", roads: "дороги", transport: "транспорт", other: "інше",
    area: "Територія", zones: "Зони", draw_hint: "Позначте зони або намалюйте багатокутник чи коло на карті.",
    drawn_area: "Намальована територія", none: "немає", preview: "Попередній перегляд", publish: "Опублікувати",
    recipients: "Отримувачі", residents: "мешканців", contacts: "контактів", segments: "SMS-сегментів",
    cost: "Вартість", estimated: "Орієнтовний час", seconds: "с", channel: "Канал",
    need_area: "Оберіть зону або намалюйте територію.", published_ok: "Опубліковано.",
    update: "Оновити", close_notice: "Закрити повідомлення", message: "Повідомлення", live: "наживо",
    total: "Усього", since_publish: "Від публікації",
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
    enrol_title: "Ustal swoje hasło", enrol_hint: "Link działa jeden raz. Hasła, które ustalisz (12–128 znaków), nie pozna nikt inny, nawet administrator.",
    new_password: "Nowe hasło", repeat_password: "Powtórz hasło", passwords_differ: "Hasła się różnią.",
    set_password: "Ustal hasło", enrolled_ok: "Hasło ustalone.", your_username: "Twoja nazwa użytkownika", continue: "Dalej",
    nav_accounts: "Konta", accounts: "Konta konsoli", new_account: "Nowe konto",
    name: "Imię i nazwisko", role: "Rola", organisation: "Organizacja", create_account: "Utwórz konto",
    new_link: "Nowy link", link_once: "Przekaż ten link właścicielowi konta", link_until: "Działa jeden raz, do",
    link_not_again: "Nie zostanie pokazany ponownie.", password_state: "Hasło", pw_none: "jeszcze nieustalone",
    pw_set_by_admin: "ustalone przez administratora", pw_own: "własne", kind_token: "token",
    needs_own_password: "zatwierdza tylko dyżurny z własnym hasłem: poproś administratora o link",
    circle_by_numbers: "Albo okrąg ze współrzędnych", lat: "Szerokość", lon: "Długość", radius_m: "Promień, m",
    drill_reports: "Raporty ćwiczeń i prób", report: "raport",
    nav_journal: "Dziennik", nav_checks: "Próby", journal: "Dziennik", checks: "Próby systemu ostrzegania",
    when: "Kiedy", actor: "Kto", action: "Działanie", subject: "Obiekt", next_run: "Następna", last_result: "Ostatni wynik",
    schedule: "Harmonogram", missed: "pominięta", no_checks: "Brak skonfigurowanych prób.", test_audience: "Grupa testowa",
    nav_alerts: "Alarmy", alerts: "Alarmy", new_alert: "Nowy alarm", approval_queue: "Czekają na zatwierdzenie",
    approve: "Zatwierdź", needs_second: "zatwierdza inny dyżurny", state: "Stan", created_by: "Utworzył",
    approved_by: "Zatwierdził", headline: "Nagłówek", instruction: "Co robić", event: "Zdarzenie",
    urgency: "Pilność", severity: "Powaga", certainty: "Pewność", audience: "Grupa testowa",
    Actual: "ALARM RZECZYWISTY", Exercise: "ĆWICZENIA", Test: "TEST", Draft: "SZKIC", System: "SYSTEMOWY", status_hint_Actual: "Trafi do wszystkich na obszarze po zatwierdzeniu przez innego dyżurnego.",
    status_hint_Exercise: "Ćwiczenia: tylko do grupy testowej, z oznaczeniem ĆWICZENIA.", status_hint_Test: "Test: tylko do grupy testowej, z oznaczeniem TEST.",
    create_alert: "Utwórz alarm", cancel_alert: "Odwołaj (fałszywy alarm)", pending_state: "oczekuje", sent_state: "wysłany",
    recorded_state: "zapisany", expired_state: "niezatwierdzony na czas", superseded_state: "zastąpiony aktualizacją",
    ended_state: "zakończony", in_progress: "w toku", no_alerts: "Brak alarmów.",
    severity_Extreme: "Ekstremalne", severity_Severe: "Poważne", severity_Moderate: "Umiarkowane", severity_Minor: "Niewielkie", severity_Unknown: "Nieznane",
    urgency_Immediate: "Natychmiast", urgency_Expected: "Wkrótce", urgency_Future: "W przyszłości", urgency_Past: "Minęło", urgency_Unknown: "Nieznana",
    certainty_Observed: "Zaobserwowane", certainty_Likely: "Prawdopodobne", certainty_Possible: "Możliwe", certainty_Unlikely: "Mało prawdopodobne", certainty_Unknown: "Nieznana",
    msg_Alert: "Alarm", msg_Update: "Aktualizacja", msg_Cancel: "Odwołanie", follows: "dotyczy alarmu", marking: "Oznaczenie", cap_status: "Status (CAP)",
    all_clear: "Odwołanie alarmu", send_update: "Wyślij aktualizację", widened: "rozszerzony na cały obszar",
    follow_up_pending: "czeka na zatwierdzenie przez innego dyżurnego", follow_up_sent: "wysłano",
    follow_update: "Aktualizacja", follow_all_clear: "Odwołanie alarmu", follow_cancel: "Odwołanie fałszywego alarmu",
    cap_unreadable: "Nie udało się odczytać dokumentu CAP alarmu.", civil: "ochrona ludności",
    alert_notice: "To komunikat alarmu: aktualizować go lub odwołać można tylko na stronie alarmu.", open_alert: "Otwórz alarm",
    http_error: "Błąd HTTP", check_name: "Próba",
    nav_notices: "Komunikaty", nav_compose: "Nowy komunikat", compose: "Nowy komunikat",
    category: "Kategoria", cause: "Przyczyna", starts_at: "Początek", expected_end: "Przewidywany koniec",
    water: "woda", heating: "ciepło", power: "prąd", gas: "gaz", roads: "drogi", transport: "transport", other: "inne",
    area: "Obszar", zones: "Strefy", draw_hint: "Zaznacz strefy albo narysuj wielokąt lub okrąg na mapie.",
    drawn_area: "Narysowany obszar", none: "brak", preview: "Podgląd", publish: "Opublikuj",
    recipients: "Odbiorcy", residents: "mieszkańców", contacts: "kontaktów", segments: "segmentów SMS",
    cost: "Koszt", estimated: "Szacowany czas", seconds: "s", channel: "Kanał",
    need_area: "Wybierz strefę albo narysuj obszar.", published_ok: "Opublikowano.",
    update: "Aktualizuj", close_notice: "Zamknij komunikat", message: "Wiadomość", live: "na żywo",
    total: "Razem", since_publish: "Od publikacji",
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
    enrol_title: "Choose your password", enrol_hint: "This link works once. Nobody else, not even an admin, learns the password you choose (12–128 characters).",
    new_password: "New password", repeat_password: "Repeat the password", passwords_differ: "The two passwords differ.",
    set_password: "Set password", enrolled_ok: "Your password is set.", your_username: "Your username", continue: "Continue",
    nav_accounts: "Accounts", accounts: "Console accounts", new_account: "New account",
    name: "Name", role: "Role", organisation: "Organisation", create_account: "Create account",
    new_link: "New enrolment link", link_once: "Give this link to the account's owner", link_until: "It works once, until",
    link_not_again: "It is not shown again.", password_state: "Password", pw_none: "not set yet",
    pw_set_by_admin: "set by an admin", pw_own: "their own", kind_token: "token",
    needs_own_password: "only an officer with a password of their own approves: ask an admin for an enrolment link",
    circle_by_numbers: "Or a circle by coordinates", lat: "Latitude", lon: "Longitude", radius_m: "Radius, m",
    drill_reports: "Drill and test reports", report: "report",
    nav_journal: "Journal", nav_checks: "Checks", journal: "Journal", checks: "Warning-system checks",
    when: "When", actor: "Who", action: "Action", subject: "Subject", next_run: "Next run", last_result: "Last result",
    schedule: "Schedule", missed: "missed", no_checks: "No checks configured.", test_audience: "Test audience",
    nav_alerts: "Alerts", alerts: "Alerts", new_alert: "New alert", approval_queue: "Waiting for approval",
    approve: "Approve", needs_second: "another officer approves", state: "State", created_by: "Created by",
    approved_by: "Approved by", headline: "Headline", instruction: "What to do", event: "Event",
    urgency: "Urgency", severity: "Severity", certainty: "Certainty", audience: "Test audience",
    Actual: "ACTUAL ALERT", Exercise: "EXERCISE", Test: "TEST", Draft: "DRAFT", System: "SYSTEM", status_hint_Actual: "Goes to everyone in the area once another officer approves it.",
    status_hint_Exercise: "Exercise: the test audience only, marked EXERCISE.", status_hint_Test: "Test: the test audience only, marked TEST.",
    create_alert: "Create alert", cancel_alert: "Cancel (false alarm)", pending_state: "pending", sent_state: "sent",
    recorded_state: "recorded", expired_state: "expired unapproved", superseded_state: "superseded by an update",
    ended_state: "ended", in_progress: "in progress", no_alerts: "No alerts.",
    severity_Extreme: "Extreme", severity_Severe: "Severe", severity_Moderate: "Moderate", severity_Minor: "Minor", severity_Unknown: "Unknown",
    urgency_Immediate: "Immediate", urgency_Expected: "Expected", urgency_Future: "Future", urgency_Past: "Past", urgency_Unknown: "Unknown",
    certainty_Observed: "Observed", certainty_Likely: "Likely", certainty_Possible: "Possible", certainty_Unlikely: "Unlikely", certainty_Unknown: "Unknown",
    msg_Alert: "Alert", msg_Update: "Update", msg_Cancel: "Cancel", follows: "follows alert", marking: "Marking", cap_status: "Status (CAP)",
    all_clear: "All clear", send_update: "Send update", widened: "widened to the whole area",
    follow_up_pending: "waiting for another officer's approval", follow_up_sent: "sent",
    follow_update: "Update", follow_all_clear: "All clear", follow_cancel: "False-alarm correction",
    cap_unreadable: "The alert's CAP document could not be read.", civil: "civil protection",
    alert_notice: "This is an alert's notice: it is updated or ended only on the alert's page.", open_alert: "Open the alert",
    http_error: "HTTP error", check_name: "Check",
    nav_notices: "Notices", nav_compose: "New notice", compose: "New notice",
    category: "Category", cause: "Cause", starts_at: "Starts", expected_end: "Expected end",
    water: "water", heating: "heating", power: "power", gas: "gas", roads: "roads", transport: "transport", other: "other",
    area: "Area", zones: "Zones", draw_hint: "Tick zones, or draw a polygon or a circle on the map.",
    drawn_area: "Drawn area", none: "none", preview: "Preview", publish: "Publish",
    recipients: "Recipients", residents: "residents", contacts: "contacts", segments: "SMS segments",
    cost: "Cost", estimated: "Estimated time", seconds: "s", channel: "Channel",
    need_area: "Pick a zone or draw an area.", published_ok: "Published.",
    update: "Update", close_notice: "Close notice", message: "Message", live: "live",
    total: "Total", since_publish: "Since publishing",
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

const state = { lang: "uk", session: null, timer: null, stream: null, map: null };

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
    super((body && body.error && body.error.message) || `${t("http_error")} ${status}`);
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
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    // Not JSON (a proxy's error page): the status says what happened.
    if (res.ok) throw new ApiError(res.status, null);
  }
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
  document.getElementById("nav").hidden = !state.session;
  const alertsLink = document.getElementById("nav-alerts");
  alertsLink.hidden = !state.session || state.session.role === "executor";
  document.getElementById("nav-checks").hidden = alertsLink.hidden;
  document.getElementById("nav-journal").hidden = !state.session || state.session.role !== "admin";
  document.getElementById("nav-accounts").hidden = !state.session || state.session.role !== "admin";
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
      route();
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

/// Per channel: done of all (sent, delivered or acknowledged), then
/// acknowledged and failed when there are any.
function counts(summary) {
  const cell = el("div", { class: "counts" });
  for (const [ch, by] of Object.entries(summary.by_channel)) {
    const all = Object.values(by).reduce((a, b) => a + b, 0);
    const done = (by.sent || 0) + (by.delivered || 0) + (by.acknowledged || 0);
    const failed = (by.failed || 0) + (by.expired || 0);
    cell.append(el("span", { "data-channel": ch, class: done === all ? "delivered" : "" },
      `${ch} ${done}/${all}`,
      by.acknowledged ? ` · ${t("acknowledged")} ${by.acknowledged}` : "",
      failed ? el("span", { class: "failed" }, ` · ${t("failed")} ${failed}`) : ""));
  }
  if (!cell.childNodes.length) cell.append(el("span", { class: "muted" }, "—"));
  return cell;
}

function noticeRow(n) {
  const overdue = n.status === "active" && n.expected_end && Date.parse(n.expected_end) < Date.now();
  const classes = [overdue ? "overdue" : "", n.alert ? `alert-row${n.alert.real ? " alert-real" : ""}` : ""];
  return el("tr", { class: classes.filter(Boolean).join(" "), "data-notice": n.id },
    el("td", {}, n.alert ? noticeMarks(n.alert) : null, n.alert ? " " : null,
      el("a", { href: `#/notices/${n.id}` }, n.title)),
    el("td", { class: "kind-" + n.kind }, t(n.kind)),
    el("td", {}, overdue ? t("overdue") : t(n.status)),
    el("td", {}, since(n.created_at)),
    el("td", {}, counts(n.summary)));
}

/// The newest notices with live counts: one event stream for the list.
function noticesView() {
  stopRefresh();
  const table = el("table", { id: "notices" },
    el("thead", {}, el("tr", {},
      el("th", {}, t("title")), el("th", {}, t("kind")), el("th", {}, t("status")),
      el("th", {}, t("published")), el("th", {}, t("deliveries")))),
    el("tbody", {}, el("tr", {}, el("td", { colspan: "5", class: "muted" }, t("loading")))));
  const stamp = el("p", { class: "muted", id: "updated" });
  show(el("section", { class: "card" },
    el("h1", {}, t("notices"), " ", el("span", { class: "live muted" }, `(${t("live")})`)), table, stamp));
  state.stream = new EventSource("/api/v1/notices/live");
  state.stream.addEventListener("notices", (ev) => {
    const { notices } = JSON.parse(ev.data);
    table.tBodies[0].replaceChildren(...(notices.length ? notices.map(noticeRow)
      : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, t("no_notices")))]));
    stamp.textContent = `${t("updated")}: ${new Date().toLocaleTimeString(state.lang)}`;
  });
  state.stream.addEventListener("error", async () => {
    // A dead session closes the stream; find out whether that is why.
    try { await api("GET", "/api/v1/session"); } catch (e) { if (e.status === 401) signedOut(); }
  });
}

function stopRefresh() {
  if (state.timer) clearInterval(state.timer);
  if (state.stream) state.stream.close();
  if (state.map) state.map.remove();
  state.timer = null;
  state.stream = null;
  state.map = null;
}

async function boot() {
  const saved = localStorage.getItem("tocsin.lang");
  state.lang = TEXT[saved] ? saved : (navigator.language || "uk").slice(0, 2);
  if (!TEXT[state.lang]) state.lang = "en";
  document.getElementById("lang").addEventListener("change", (ev) => {
    state.lang = ev.target.value;
    localStorage.setItem("tocsin.lang", state.lang);
    applyLanguage();
    route();
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
  window.addEventListener("hashchange", route);
  route();
}

function signedOut() {
  state.session = null;
  applyLanguage();
  signInView();
}

/// #/notices (the list), #/compose, #/notices/{id}, #enrol=TOKEN, …
function route() {
  // A link opened in a tab that already shows the console only changes
  // the fragment.
  const enrolToken = takeEnrolToken();
  if (enrolToken) return enrolView(enrolToken);
  if (!state.session) return signInView();
  const hash = location.hash;
  const notice = /^#\/notices\/(\d+)$/.exec(hash);
  const alert = /^#\/alerts\/(\d+)$/.exec(hash);
  if (hash === "#/compose") return composeView();
  if (hash === "#/alerts") return alertsView();
  if (hash === "#/journal") return journalView();
  if (hash === "#/checks") return checksView();
  if (hash === "#/accounts") return accountsView();
  if (hash === "#/alerts/new") return alertComposeView();
  if (alert) return alertView(Number(alert[1]));
  if (notice) return noticeView(Number(notice[1]));
  return noticesView();
}



// --- composing a notice -------------------------------------------------

const KINDS = ["planned", "unplanned", "emergency"];
const CATEGORIES = ["water", "heating", "power", "gas", "roads", "transport", "other"];

function field(label, input) {
  return el("label", { class: "field" }, el("span", {}, label), input);
}

function select(name, values) {
  return el("select", { name }, ...values.map((v) => el("option", { value: v }, t(v))));
}

/// A datetime-local value `hours` from now, in the browser's time zone.
function localInput(hours) {
  const d = new Date(Date.now() + hours * 3600000);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

function iso(local) {
  return local ? new Date(local).toISOString() : undefined;
}

async function baseMap(container) {
  const map = L.map(container, { zoomSnap: 0.5 });
  state.map = map;
  const config = await api("GET", "/config.json");
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "" }).addTo(map);
  }
  map.setView([50.45, 30.52], 6);
  return map;
}

/// Draws every zone as an outline with a checkbox each; returns the
/// checkboxes.
async function zonesOnMap(map, list) {
  const { zones } = await api("GET", "/api/v1/zones");
  const boxes = [];
  const bounds = L.latLngBounds([]);
  for (const z of zones) {
    const box = el("input", { type: "checkbox", value: z.id, name: "zone" });
    boxes.push(box);
    list.append(el("label", { class: "zone" }, box, " ", z.name));
    const feature = await api("GET", `/api/v1/zones/${z.id}`);
    const layer = L.geoJSON(feature, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.05 } })
      // Leaflet reads a string tooltip as markup; a node keeps the name text.
      .bindTooltip(el("span", {}, z.name)).addTo(map);
    const paint = () => layer.setStyle({ fillOpacity: box.checked ? 0.3 : 0.05 });
    layer.on("click", () => { box.checked = !box.checked; paint(); });
    box.addEventListener("change", paint);
    bounds.extend(layer.getBounds());
  }
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
  if (!zones.length) list.append(el("p", { class: "muted" }, t("none")));
  return boxes;
}

/// The drawing tools; one drawn shape at a time.
function drawing(map, onChange) {
  localiseDraw(state.lang);
  const drawn = new L.FeatureGroup().addTo(map);
  map.addControl(new L.Control.Draw({
    draw: {
      polygon: { allowIntersection: false, showArea: false },
      circle: { showRadius: true, metric: true },
      rectangle: false, polyline: false, marker: false, circlemarker: false,
    },
    edit: { featureGroup: drawn },
  }));
  map.on(L.Draw.Event.CREATED, (e) => { drawn.clearLayers(); drawn.addLayer(e.layer); onChange(); });
  map.on(L.Draw.Event.EDITED, onChange);
  map.on(L.Draw.Event.DELETED, onChange);
  return drawn;
}

/// A circle typed in, for whoever cannot or would rather not draw.
function circleFields() {
  const input = (name, label) => el("label", { class: "field inline" }, el("span", {}, label),
    el("input", { name, inputmode: "decimal", size: "10" }));
  return el("fieldset", { class: "circle" }, el("legend", {}, t("circle_by_numbers")),
    input("circle_lat", t("lat")), input("circle_lon", t("lon")), input("circle_radius_m", t("radius_m")));
}

/// The typed circle, if all three numbers are given.
function typedCircle(data) {
  const [lat, lon, radius] = ["circle_lat", "circle_lon", "circle_radius_m"]
    .map((k) => String(data.get(k) || "").trim().replace(",", "."));
  if (!lat || !lon || !radius) return null;
  return { lat: Number(lat), lon: Number(lon), radius_m: Number(radius) };
}

/// The notice's `area` from ticked zones and the drawn shape.
function areaOf(boxes, drawn) {
  const area = { zones: boxes.filter((b) => b.checked).map((b) => Number(b.value)) };
  for (const layer of drawn.getLayers()) {
    if (layer instanceof L.Circle) {
      const c = layer.getLatLng();
      area.circle = { lat: c.lat, lon: c.lng, radius_m: Math.round(layer.getRadius()) };
    } else {
      area.geometry = layer.toGeoJSON().geometry;
    }
  }
  return area;
}

function previewPanel(p) {
  const rows = Object.entries(p.recipients.by_channel).map(([ch, n]) =>
    el("tr", {}, el("td", {}, ch), el("td", { "data-channel": ch }, String(n))));
  const segments = (p.sms || []).reduce((sum, r) => sum + r.segments * r.recipients, 0);
  const cost = p.cost ? `${p.cost.total} ${p.cost.currency}` : "—";
  return el("div", { id: "preview", class: "preview" },
    el("h2", {}, t("recipients")),
    el("p", { id: "preview-recipients" },
      `${p.recipients.residents} ${t("residents")}, ${p.recipients.contacts} ${t("contacts")}`),
    el("table", {}, el("tbody", {}, ...rows)),
    el("p", {}, `${t("segments")}: ${segments}`),
    el("p", {}, `${t("cost")}: ${cost}`),
    el("p", {}, `${t("estimated")}: ${p.estimated_seconds.total} ${t("seconds")}`));
}

async function composeView() {
  stopRefresh();
  const zoneList = el("fieldset", { class: "zones" }, el("legend", {}, t("zones")));
  const drawnNote = el("p", { id: "drawn", class: "muted" }, `${t("drawn_area")}: ${t("none")}`);
  const error = el("p", { class: "error", role: "alert", id: "compose-error" });
  const result = el("div", { id: "preview-slot" });
  const form = el("form", { class: "card", id: "compose" },
    el("h1", {}, t("compose")),
    field(t("kind"), select("kind", KINDS)),
    field(t("category"), select("category", CATEGORIES)),
    field(t("title"), el("input", { name: "title", required: "", maxlength: "200" })),
    field(t("cause"), el("input", { name: "cause", maxlength: "500" })),
    field(t("starts_at"), el("input", { name: "starts_at", type: "datetime-local", value: localInput(0), required: "" })),
    field(t("expected_end"), el("input", { name: "expected_end", type: "datetime-local", value: localInput(8) })),
    zoneList, drawnNote, circleFields(), error,
    el("div", { class: "actions" },
      el("button", { type: "button", id: "preview-button", class: "secondary" }, t("preview")),
      el("button", { type: "submit", id: "publish-button" }, t("publish"))),
    result);
  const mapDiv = el("div", { id: "map", class: "map", "aria-label": t("area") });
  show(el("div", { class: "compose" }, mapDiv, form));
  form.insertBefore(el("p", { class: "muted" }, t("draw_hint")), zoneList);

  const map = await baseMap(mapDiv);
  const boxes = await zonesOnMap(map, zoneList);
  const drawn = drawing(map, () => {
    const n = drawn.getLayers().length;
    drawnNote.textContent = `${t("drawn_area")}: ${n ? (drawn.getLayers()[0] instanceof L.Circle ? "○" : "▱") : t("none")}`;
  });
  const body = () => {
    const data = new FormData(form);
    const area = areaOf(boxes, drawn);
    const typed = typedCircle(data);
    if (typed) area.circle = typed;
    if (!area.zones.length && !area.geometry && !area.circle) throw new Error(t("need_area"));
    return {
      kind: data.get("kind"), category: data.get("category"), title: data.get("title"),
      cause: data.get("cause") || undefined, starts_at: iso(data.get("starts_at")),
      expected_end: iso(data.get("expected_end")), area,
    };
  };
  form.querySelector("#preview-button").addEventListener("click", async () => {
    error.textContent = "";
    try {
      result.replaceChildren(previewPanel(await api("POST", "/api/v1/notices/preview", body())));
    } catch (e) {
      error.textContent = e.message;
    }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      const created = await api("POST", "/api/v1/notices", body());
      location.hash = `#/notices/${created.id}`;
    } catch (e) {
      error.textContent = e.message;
    }
  });
}

// --- one notice: live progress, update, close ---------------------------

const PROGRESS_STATES = ["waiting", "sent", "delivered", "acknowledged", "failed"];

function progressTable(summary) {
  const waiting = (by) => ["pending", "queued", "sending"].reduce((n, s) => n + (by[s] || 0), 0);
  const failed = (by) => (by.failed || 0) + (by.expired || 0);
  const cells = (by) => [waiting(by), by.sent || 0, by.delivered || 0, by.acknowledged || 0, failed(by)];
  const row = (name, by, attrs) => el("tr", attrs, el("th", { scope: "row" }, name),
    ...cells(by).map((n, i) => el("td", { "data-state": PROGRESS_STATES[i] }, String(n))));
  const head = el("tr", {}, el("th", {}, t("channel")),
    el("th", {}, t("queued")), el("th", {}, t("sent")), el("th", {}, t("delivered")),
    el("th", {}, t("acknowledged")), el("th", {}, t("failed")));
  const rows = Object.entries(summary.by_channel).map(([ch, by]) => row(ch, by, { "data-channel": ch }));
  return el("table", { id: "progress" }, el("thead", {}, head),
    el("tbody", {}, ...rows, row(t("total"), summary.by_state, { "data-channel": "total", class: "total" })));
}

function eventForm(id, kind, label, withEnd) {
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "event", id: `${kind}-form` },
    field(t("message"), el("input", { name: "message", maxlength: "500", required: kind === "close" ? null : "" })),
    withEnd ? field(t("expected_end"), el("input", { name: "expected_end", type: "datetime-local" })) : null,
    error, el("button", { type: "submit", class: kind === "close" ? "secondary" : "" }, label));
  if (kind === "close") form.querySelector("input").removeAttribute("required");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const body = { message: data.get("message") || undefined };
    if (withEnd && data.get("expected_end")) body.expected_end = iso(data.get("expected_end"));
    try {
      await api("POST", `/api/v1/notices/${id}/${kind}`, body);
      noticeView(id);
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return form;
}

/// Update and close for a notice in effect; an alert's notice changes
/// only through its alert, so it links there instead.
function noticeActions(notice) {
  if (notice.alert) {
    return el("p", { class: "alert-notice", id: "alert-notice" }, t("alert_notice"), " ",
      notice.alert.id ? el("a", { href: `#/alerts/${notice.alert.id}`, id: "notice-alert" }, t("open_alert")) : null);
  }
  if (notice.status !== "active") return null;
  return el("div", { class: "events" },
    eventForm(notice.id, "update", t("update"), true), eventForm(notice.id, "close", t("close_notice"), false));
}

async function noticeView(id) {
  stopRefresh();
  let notice;
  try {
    notice = await api("GET", `/api/v1/notices/${id}`);
  } catch (e) {
    if (e.status === 401) return signedOut();
    return show(el("p", { class: "error", role: "alert" }, e.message));
  }
  const slot = el("div", { id: "progress-slot" }, el("p", { class: "muted" }, t("loading")));
  const elapsed = el("p", { class: "muted", id: "elapsed" });
  show(el("section", { class: "card" },
    el("h1", {}, notice.alert ? noticeMarks(notice.alert) : null, notice.alert ? " " : null, notice.title),
    el("p", {}, el("span", { class: "kind-" + notice.kind }, t(notice.kind)), " · ",
      el("span", { id: "status" }, t(notice.status)), " · ", t(notice.category)),
    el("h2", {}, `${t("deliveries")} `, el("span", { class: "live muted" }, `(${t("live")})`)),
    slot, elapsed, noticeActions(notice)));
  const tick = () => { elapsed.textContent = `${t("since_publish")}: ${since(notice.created_at)}`; };
  tick();
  state.timer = setInterval(tick, 30000);
  state.stream = new EventSource(`/api/v1/notices/${id}/progress`);
  state.stream.addEventListener("summary", (ev) => {
    slot.replaceChildren(progressTable(JSON.parse(ev.data)));
  });
}

// --- journal and checks -------------------------------------------------

async function journalView() {
  stopRefresh();
  // The API pages oldest first; read to the end (at most 20 000 entries)
  // and show the newest 500 first: the duty officer looks for what just
  // happened.
  let entries = [];
  try {
    let after = 0;
    for (let i = 0; i < 20; i++) {
      const page = await api("GET", `/api/v1/journal?limit=1000&after=${after}`);
      entries = entries.concat(page.entries).slice(-500);
      if (!page.next_after) break;
      after = page.next_after;
    }
  } catch (e) {
    if (e.status === 401) return signedOut();
    return show(el("p", { class: "error", role: "alert" }, e.message));
  }
  const rows = entries.reverse().map((e) => el("tr", { "data-entry": e.id },
    el("td", {}, new Date(e.at).toLocaleString(state.lang)), el("td", {}, e.actor),
    el("td", {}, e.action), el("td", {}, e.subject)));
  show(el("section", { class: "card" }, el("h1", {}, t("journal")),
    el("table", { id: "journal" },
      el("thead", {}, el("tr", {}, el("th", {}, t("when")), el("th", {}, t("actor")),
        el("th", {}, t("action")), el("th", {}, t("subject")))),
      el("tbody", {}, ...rows))));
}

function runResult(run) {
  if (!run) return "—";
  const when = new Date(run.due_at).toLocaleString(state.lang);
  const channels = Object.entries(run.channels || {}).map(([ch, r]) => `${ch} ${r.sent}/${r.recipients}`);
  const label = run.state === "sent" ? t("sent") : run.state === "missed" ? t("missed") : t("failed");
  return `${when}: ${label}${channels.length ? " · " + channels.join(", ") : ""}${run.detail ? " · " + run.detail : ""}`;
}

async function checksView() {
  stopRefresh();
  let checks;
  try {
    ({ checks } = await api("GET", "/api/v1/checks"));
  } catch (e) {
    if (e.status === 401) return signedOut();
    return show(el("p", { class: "error", role: "alert" }, e.message));
  }
  const rows = checks.map((c) => el("tr", { "data-check": c.name },
    el("td", {}, c.name), el("td", {}, `${c.cron} (${c.timezone})`),
    el("td", {}, c.audience || "—"),
    el("td", {}, c.next_run ? new Date(c.next_run).toLocaleString(state.lang) : "—"),
    el("td", { class: c.runs[0] && c.runs[0].state !== "sent" ? "failed" : "" }, runResult(c.runs[0]),
      c.runs[0] && c.runs[0].alert ? el("span", {}, " · ", el("a", { href: `#/alerts/${c.runs[0].alert}` }, t("report"))) : null)));
  show(el("section", { class: "card" }, el("h1", {}, t("checks")),
    rows.length ? el("table", { id: "checks" },
      el("thead", {}, el("tr", {}, el("th", {}, t("check_name")), el("th", {}, t("schedule")),
        el("th", {}, t("test_audience")), el("th", {}, t("next_run")), el("th", {}, t("last_result")))),
      el("tbody", {}, ...rows)) : el("p", { class: "muted" }, t("no_checks"))));
}

document.addEventListener("DOMContentLoaded", boot);
