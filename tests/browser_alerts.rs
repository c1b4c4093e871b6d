//! The console says what is real, in a real browser (driven as in
//! `tests/browser.rs`, through `tests/support/browser.rs`): alert notices
//! carry their marks (ACTUAL ALERT or a drill, and how grave) in the
//! operator's language and change only through their alert, and an alert
//! is updated and ended on its own page under the two-person rule; the
//! map's drawing tools speak the console's language, and zone names on
//! the map stay text.

mod support;

use fantoccini::{Client, Locator};
use serde_json::json;
use support::TestApp;
use support::alerts::{approve, cap, operator, person, post_cap, resident};
use support::browser::{
    assert_absent, browser, click, screenshot, select_language, sign_in, start_driver, text_of,
    type_into, wait_for_xpath,
};

/// An Actual alert from `cap()` (Extreme), sent by an operator's token
/// and approved by `approver`; returns (alert id, notice id).
async fn actual_alert(app: &TestApp, token: &str, approver: &str, id: &str) -> (i64, i64) {
    let r = post_cap(app, token, "", &cap(id, "Actual", "Extreme", "Immediate")).await;
    assert_eq!(r.status, 202, "{r:?}");
    let alert = r.body["id"].as_i64().unwrap();
    let by = person(app, approver, "Петро Іваненко").await;
    let r = approve(app, &by, alert).await;
    assert_eq!(r.status, 200, "{r:?}");
    (alert, r.body["notice_id"].as_i64().unwrap())
}

async fn attr(client: &Client, css: &str, name: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .attr(name)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// The `#N` an element's link points to (`#/alerts/N`).
async fn linked_alert(client: &Client, css: &str) -> i64 {
    text_of(client, css).await;
    let href = attr(client, css, "href").await;
    href.strip_prefix("#/alerts/")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{css} links to {href}"))
}

/// Observation 10: a drill and a real alert looked alike in the list, as
/// ordinary unplanned notices of category `civil`.
#[tokio::test]
async fn the_notices_list_marks_real_alerts_and_drills_in_the_operators_language() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    resident(&app, 1, "uk", true, json!({})).await;
    let zone = app
        .create_zone("Центр", &support::rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let token = operator(&app, "Сирена-шлюз").await;
    let (_, real) = actual_alert(&app, &token, "petro", "AIR-1").await;
    let drill = post_cap(
        &app,
        &token,
        "?widen=true",
        &cap("DRILL-1", "Exercise", "Severe", "Immediate"),
    )
    .await;
    assert_eq!(drill.status, 201, "{drill:?}");
    let drill = drill.body["notice_id"].as_i64().unwrap();
    let utility = app
        .publish(support::notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    person(&app, "olha", "Ольга Мельник").await;

    let client = browser(&driver).await;
    sign_in(&client, &app, "olha").await;
    select_language(&client, "uk").await;
    let row = |id: i64| format!("tr[data-notice='{id}']");
    let text = text_of(&client, &row(real)).await;
    assert!(
        text.contains("РЕАЛЬНА ТРИВОГА") && text.contains("Надзвичайна"),
        "{text}"
    );
    assert!(!text.contains("НАВЧАННЯ"), "{text}");
    let text = text_of(&client, &row(drill)).await;
    assert!(
        text.contains("НАВЧАННЯ") && text.contains("Висока"),
        "{text}"
    );
    assert!(!text.contains("РЕАЛЬНА"), "{text}");
    let text = text_of(&client, &row(utility)).await;
    assert!(text.contains("Ремонт водогону"), "{text}");
    for word in ["РЕАЛЬНА", "НАВЧАННЯ", "ТЕСТ"] {
        assert!(!text.contains(word), "{text}");
    }
    assert_absent(&client, &format!("{} .badge", row(utility))).await;
    screenshot(&client, "notices-alert-marks-uk").await;

    select_language(&client, "pl").await;
    wait_for_xpath(
        &client,
        &format!("//tr[@data-notice='{drill}'][contains(., 'ĆWICZENIA')][contains(., 'Poważne')]"),
    )
    .await;
    wait_for_xpath(
        &client,
        &format!(
            "//tr[@data-notice='{real}'][contains(., 'ALARM RZECZYWISTY')][contains(., 'Ekstremalne')]"
        ),
    )
    .await;
    client.close().await.unwrap();
}

/// Observation 1 (the console's part): an alert's notice page offered
/// the notice update and close, which the server now refuses.
#[tokio::test]
async fn an_alerts_notice_page_links_to_its_alert_instead_of_updating_it() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    resident(&app, 1, "uk", true, json!({})).await;
    let token = operator(&app, "Сирена-шлюз").await;
    let (alert, notice) = actual_alert(&app, &token, "petro", "AIR-1").await;
    person(&app, "olha", "Ольга Мельник").await;

    let client = browser(&driver).await;
    sign_in(&client, &app, "olha").await;
    select_language(&client, "uk").await;
    click(
        &client,
        &format!("tr[data-notice='{notice}'] a[href='#/notices/{notice}']"),
    )
    .await;
    let said = text_of(&client, "#alert-notice").await;
    assert!(said.contains("сторінці тривоги"), "{said}");
    let heading = text_of(&client, "section.card h1").await;
    assert!(
        heading.contains("РЕАЛЬНА ТРИВОГА") && heading.contains("Надзвичайна"),
        "{heading}"
    );
    let line = text_of(&client, "section.card p").await;
    assert!(line.contains("цивільний захист"), "{line}");
    assert_absent(&client, "#update-form").await;
    assert_absent(&client, "#close-form").await;
    assert_eq!(linked_alert(&client, "a#notice-alert").await, alert);
    screenshot(&client, "alert-notice-page").await;
    click(&client, "a#notice-alert").await;
    wait_for_xpath(&client, "//strong[@id='alert-state'][.='надіслано']").await;
    text_of(&client, "button#all-clear").await;

    // The false-alarm correction is pre-approved: the page says it went
    // out, and the alert ended.
    click(&client, "button#cancel-alert").await;
    let note = text_of(&client, "p#follow-up[data-state='sent']").await;
    assert!(
        note.starts_with("Скасування хибної тривоги") && note.ends_with("надіслано"),
        "{note}"
    );
    wait_for_xpath(&client, "//strong[@id='alert-state'][.='завершено']").await;
    assert_absent(&client, "button#cancel-alert").await;
    let bodies = sms_bodies(&app, notice, 2).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[1].contains("помилково"), "{bodies:?}");
    client.close().await.unwrap();
}

/// SMS bodies the simulated provider sent for the notice, oldest first,
/// once `n` have gone.
async fn sms_bodies(app: &TestApp, notice: i64, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let bodies: Vec<String> = app
            .outbox(&format!("notice={notice}&channel=sms"))
            .await
            .iter()
            .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
            .collect();
        if bodies.len() >= n || std::time::Instant::now() > deadline {
            return bodies;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn sign_out(client: &Client) {
    click(client, "button#sign-out").await;
    text_of(client, "form#sign-in").await;
}

/// Approves the alert from the approval queue, then waits for its page.
async fn approve_from_queue(client: &Client, alert: i64) {
    click(client, "#nav-alerts").await;
    let item = format!("#approval-queue li[data-alert='{alert}']");
    text_of(client, &item).await;
    click(client, &format!("{item} button.approve")).await;
    wait_for_xpath(
        client,
        "//strong[@id='alert-state'][@data-state='sent'][.='надіслано']",
    )
    .await;
}

/// The all-clear and the update were English-only API routes; the
/// console could only cancel a false alarm.
#[tokio::test]
async fn officers_update_and_end_an_alert_on_its_page_each_approving_the_other() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    resident(&app, 1, "uk", true, json!({})).await;
    let token = operator(&app, "Сирена-шлюз").await;
    let (alert, notice) = actual_alert(&app, &token, "petro", "AIR-1").await;
    person(&app, "anna", "Анна Коваль").await;
    assert_eq!(sms_bodies(&app, notice, 1).await.len(), 1);

    // Anna asks for an update in Ukrainian: it waits for a second person.
    let client = browser(&driver).await;
    sign_in(&client, &app, "anna").await;
    select_language(&client, "uk").await;
    client
        .goto(&app.url(&format!("/console#/alerts/{alert}")))
        .await
        .unwrap();
    wait_for_xpath(
        &client,
        "//span[@data-status='Actual'][.='РЕАЛЬНА ТРИВОГА']",
    )
    .await;
    wait_for_xpath(&client, "//span[@data-severity='Extreme'][.='Надзвичайна']").await;
    click(&client, "button#update-alert").await;
    type_into(
        &client,
        "#alert-update-form input[name=headline]",
        "Загрозу зменшено",
    )
    .await;
    type_into(
        &client,
        "#alert-update-form input[name=instruction]",
        "Залишайтеся в укритті",
    )
    .await;
    client
        .find(Locator::Css("#alert-update-form select[name=severity]"))
        .await
        .unwrap()
        .select_by_value("Severe")
        .await
        .unwrap();
    click(&client, "button#send-update").await;
    let note = text_of(&client, "p#follow-up[data-state='pending']").await;
    assert!(note.contains("чекає на затвердження"), "{note}");
    let update = linked_alert(&client, "#follow-up-link").await;
    screenshot(&client, "alert-update-pending").await;
    assert_eq!(sms_bodies(&app, notice, 2).await.len(), 1, "unapproved");
    sign_out(&client).await;

    // Petro approves it, and from the update's page asks for the
    // all-clear, which Anna must approve.
    sign_in(&client, &app, "petro").await;
    approve_from_queue(&client, update).await;
    wait_for_xpath(&client, "//span[@data-severity='Severe'][.='Висока']").await;
    let bodies = sms_bodies(&app, notice, 2).await;
    assert_eq!(
        bodies.get(1).map(String::as_str),
        Some("Загрозу зменшено. Залишайтеся в укритті."),
        "{bodies:?}"
    );
    click(&client, "#alert-references").await;
    wait_for_xpath(
        &client,
        "//strong[@id='alert-state'][@data-state='superseded'][.='замінено оновленням']",
    )
    .await;
    assert_eq!(linked_alert(&client, "#alert-superseded-by").await, update);
    assert_absent(&client, "button#all-clear").await;
    click(&client, "#alert-superseded-by").await;
    click(&client, "button#all-clear").await;
    let note = text_of(&client, "p#follow-up[data-state='pending']").await;
    assert!(note.starts_with("Відбій тривоги"), "{note}");
    let end = linked_alert(&client, "#follow-up-link").await;
    // The person who asked is not offered to approve it.
    click(&client, "#follow-up-link").await;
    text_of(&client, "#needs-second").await;
    assert_absent(&client, "button#approve").await;
    sign_out(&client).await;

    sign_in(&client, &app, "anna").await;
    approve_from_queue(&client, end).await;
    let bodies = sms_bodies(&app, notice, 3).await;
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies[2].starts_with("Відбій тривоги"), "{bodies:?}");
    // The alert's page says it ended, and by what; nothing is offered.
    client
        .goto(&app.url(&format!("/console#/alerts/{alert}")))
        .await
        .unwrap();
    wait_for_xpath(
        &client,
        "//strong[@id='alert-state'][@data-state='ended'][.='завершено']",
    )
    .await;
    assert_eq!(linked_alert(&client, "#alert-ended-by").await, end);
    assert_absent(&client, "button#all-clear").await;
    assert_absent(&client, "button#update-alert").await;
    screenshot(&client, "alert-ended").await;
    select_language(&client, "pl").await;
    wait_for_xpath(&client, "//strong[@id='alert-state'][.='zakończony']").await;
    client.close().await.unwrap();
}

/// Observation 10: Leaflet.draw's buttons and tooltips were English in
/// the Ukrainian console.
#[tokio::test]
async fn the_drawing_tools_speak_the_consoles_language() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    // A zone's name is text on the map too, never markup.
    let hostile = "Центр <img src=x id=injected>";
    app.create_zone(hostile, &support::rect(25.30, 50.73, 25.35, 50.76))
        .await;
    person(&app, "olha", "Ольга Мельник").await;
    let client = browser(&driver).await;
    sign_in(&client, &app, "olha").await;
    select_language(&client, "uk").await;
    click(&client, "nav a[href='#/compose']").await;
    text_of(&client, "#map path.leaflet-interactive").await;
    let shown = client
        .execute(
            "state.map.eachLayer((l) => { if (l.getTooltip && l.getTooltip()) l.openTooltip(); });\
             const t = document.querySelector('.leaflet-tooltip');\
             return [t ? t.textContent : null, !!document.getElementById('injected')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!([hostile, false]));
    let polygon = "a.leaflet-draw-draw-polygon";
    text_of(&client, polygon).await;
    assert_eq!(
        attr(&client, polygon, "title").await,
        "Намалювати багатокутник"
    );
    assert_eq!(
        attr(&client, "a.leaflet-draw-draw-circle", "title").await,
        "Намалювати коло"
    );
    click(&client, polygon).await;
    let tooltip = client
        .execute(
            "const t = document.querySelector('.leaflet-draw-tooltip'); return t ? t.textContent : '';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(tooltip, json!("Натисніть, щоб почати багатокутник."));
    wait_for_xpath(
        &client,
        "//ul[contains(@class, 'leaflet-draw-actions')]//a[@title='Скасувати малювання'][.='Скасувати']",
    )
    .await;
    screenshot(&client, "compose-draw-uk").await;

    // Switching the language draws the tools again in it, also back to
    // Leaflet.draw's own English.
    select_language(&client, "pl").await;
    wait_for_xpath(
        &client,
        "//a[contains(@class, 'leaflet-draw-draw-polygon')][@title='Narysuj wielokąt']",
    )
    .await;
    select_language(&client, "en").await;
    wait_for_xpath(
        &client,
        "//a[contains(@class, 'leaflet-draw-draw-polygon')][@title='Draw a polygon']",
    )
    .await;
    client.close().await.unwrap();
}
