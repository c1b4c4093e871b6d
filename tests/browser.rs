//! The console in a real browser: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them). Screenshots of each page are saved under
//! `target/tmp/screenshots/` as test artefacts.
//!
//! Without chromedriver the tests say so and pass, except under `CI=true`,
//! where they fail: CI must never skip them silently.

mod support;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use serde_json::json;
use std::time::Duration;
use support::browser::{
    admin_account, assert_absent, browser, click, screenshot, sign_in, start_driver, text_of,
    type_into, wait_for_xpath,
};
use support::people::{PASSWORD, new_account};
use support::{Providers, TestApp, notice_body, rect};

#[tokio::test]
async fn an_operator_signs_in_and_watches_deliveries_arrive() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    for i in 0..3 {
        app.create_resident(json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": format!("+38050123456{i}")}]}))
            .await;
    }
    admin_account(&app, "olena", "Олена Коваль").await;

    let client = browser(&driver).await;
    client.goto(&app.url("/console")).await.unwrap();
    text_of(&client, "form#sign-in").await;
    // The browser asked for English.
    assert_eq!(
        text_of(&client, "form#sign-in h1").await,
        "Sign in to the console"
    );
    screenshot(&client, "console-sign-in").await;

    // A wrong password is shown, not a blank page.
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("olena")
        .await
        .unwrap();
    let password = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password.send_keys("not the password").await.unwrap();
    password.send_keys("\u{E007}").await.unwrap(); // Enter
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//p[@id='sign-in-error'][contains(., 'wrong username or password')]",
        ))
        .await
        .unwrap();
    password.clear().await.unwrap();
    password.send_keys(PASSWORD).await.unwrap();
    password.send_keys("\u{E007}").await.unwrap();
    text_of(&client, "table#notices").await;
    assert!(text_of(&client, "#who").await.contains("Олена Коваль"));

    // A notice published now appears, and its counts rise to what the
    // provider took.
    let notice = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    let id = notice["id"].as_i64().unwrap();
    app.wait_settled(id).await;
    let row = format!("tr[data-notice='{id}']");
    let text = text_of(&client, &row).await;
    assert!(
        text.contains("Ремонт водогону") && text.contains("active"),
        "{text}"
    );
    let sent = app.outbox("channel=sms").await.len();
    assert_eq!(sent, 3);
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!(
            "//tr[@data-notice='{id}']//span[@data-channel='sms'][contains(., 'sms {sent}/{sent}')]"
        )))
        .await
        .expect("the row shows every message the provider took");
    screenshot(&client, "console-notices").await;

    // Polish, then sign out.
    client
        .find(Locator::Css("select#lang"))
        .await
        .unwrap()
        .select_by_value("pl")
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//h1[starts-with(normalize-space(.), 'Komunikaty')]",
        ))
        .await
        .unwrap();
    screenshot(&client, "console-notices-pl").await;

    // The journal shows this sign-in; the checks page says none are set.
    click(&client, "#nav-journal").await;
    wait_for_xpath(&client, "//table[@id='journal']//td[.='account.signed_in']").await;
    screenshot(&client, "console-journal").await;
    click(&client, "#nav-checks").await;
    text_of(&client, "section.card h1").await;
    wait_for_xpath(&client, "//p[contains(., 'Brak skonfigurowanych prób')]").await;
    client
        .find(Locator::Css("button#sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_of(&client, "form#sign-in").await;
    let r = app
        .client()
        .get(app.url("/api/v1/journal"))
        .bearer_auth(support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("account.signed_out"), "{r}");
    client.close().await.unwrap();
}

/// Clicks the map at these offsets (pixels from its centre).
async fn click_map(client: &Client, points: &[(f64, f64)]) {
    let map = client.find(Locator::Css("#map")).await.unwrap();
    let mut mouse = MouseActions::new("mouse".to_owned());
    for &(x, y) in points {
        mouse = mouse
            .then(PointerAction::MoveToElement {
                element: map.clone(),
                duration: Some(Duration::from_millis(50)),
                x,
                y,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Pause {
                duration: Duration::from_millis(150),
            });
    }
    client.perform_actions(mouse).await.unwrap();
}

/// The numbers in the progress table's total row, by `data-state`.
/// Read in one script, so a live update cannot replace the row halfway.
async fn total_row(client: &Client) -> std::collections::BTreeMap<String, u64> {
    let cells = client
        .execute(
            "return Array.from(document.querySelectorAll('#progress tr[data-channel=total] td'))\
               .map(td => [td.dataset.state, td.textContent.trim()]);",
            vec![],
        )
        .await
        .unwrap();
    cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let state = c[0].as_str().unwrap_or_default().to_owned();
            (state, c[1].as_str().unwrap_or("0").parse().unwrap_or(0))
        })
        .collect()
}

#[tokio::test]
async fn an_operator_draws_an_area_previews_publishes_and_sees_every_message_counted() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let providers = Providers::start().await;
    let app = TestApp::spawn_with_config(&providers.config("")).await;
    app.create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    // Four residents at the middle of the district, inside what is drawn;
    // one in its corner, inside the zone but outside the drawing.
    for i in 0..4 {
        app.create_resident(json!({"language": "uk",
            "location": {"lat": 50.745 + f64::from(i) * 0.0002, "lon": 25.325},
            "contacts": [{"channel": "fcm", "address": format!("fcm-device-token-{i}")},
                         {"channel": "sms", "address": format!("+38067123456{i}")}]}))
            .await;
    }
    app.create_resident(
        json!({"language": "uk", "location": {"lat": 50.7305, "lon": 25.3005},
        "contacts": [{"channel": "sms", "address": "+380671234569"}]}),
    )
    .await;
    admin_account(&app, "dispatcher", "Черговий диспетчер").await;

    let client = browser(&driver).await;
    sign_in(&client, &app, "dispatcher").await;
    click(&client, "nav a[href='#/compose']").await;
    text_of(&client, "form#compose").await;
    // The zone is drawn as an outline even without map tiles.
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#map path.leaflet-interactive"))
        .await
        .expect("the zone's outline");
    type_into(
        &client,
        "input[name=title]",
        "Ремонт водогону на Лесі Українки",
    )
    .await;

    click(&client, "a.leaflet-draw-draw-polygon").await;
    let square = [(-70.0, -70.0), (70.0, -70.0), (70.0, 70.0), (-70.0, 70.0)];
    click_map(&client, &square).await;
    click_map(&client, &square[..1]).await; // back on the first vertex closes it
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//p[@id='drawn'][contains(., '▱')]"))
        .await
        .expect("the polygon is drawn");
    screenshot(&client, "compose-drawn").await;

    click(&client, "#preview-button").await;
    let recipients = text_of(&client, "#preview-recipients").await;
    assert!(
        recipients.starts_with("4 residents, 8 contacts"),
        "{recipients}"
    );
    assert_eq!(providers.accepted(), 0, "a preview sends nothing");
    screenshot(&client, "compose-preview").await;

    click(&client, "#publish-button").await;
    text_of(&client, "table#progress").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let total = total_row(&client).await;
        let done = total.get("sent").copied().unwrap_or(0)
            + total.get("delivered").copied().unwrap_or(0)
            + total.get("acknowledged").copied().unwrap_or(0);
        if done == 8 && total.get("waiting") == Some(&0) {
            assert_eq!(total.get("failed"), Some(&0), "{total:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never showed 8 sent: {total:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        providers.accepted(),
        8,
        "the page counts what the providers took"
    );
    assert_eq!(providers.fcm.accepted(), 4);
    screenshot(&client, "notice-progress").await;

    // Closing from the notice page reaches the same four.
    type_into(
        &client,
        "#close-form input[name=message]",
        "Воду відновлено",
    )
    .await;
    click(&client, "#close-form button").await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//span[@id='status'][.='closed']"))
        .await
        .expect("the notice shows closed");
    client.close().await.unwrap();
}

/// Opens an enrolment link, chooses `PASSWORD` and goes on signed in.
async fn enrol_in_browser(client: &Client, link: &str, username: &str) {
    client.goto(link).await.unwrap();
    text_of(client, "form#enrol").await;
    let url = client.current_url().await.unwrap();
    assert!(
        !url.as_str().contains("enrol="),
        "the token leaves the address bar: {url}"
    );
    type_into(client, "form#enrol input[name=password]", PASSWORD).await;
    type_into(
        client,
        "form#enrol input[name=repeat]",
        "not the same password",
    )
    .await;
    click(client, "form#enrol button[type=submit]").await;
    wait_for_xpath(client, "//p[@id='enrol-error'][normalize-space(.) != '']").await;
    type_into(client, "form#enrol input[name=repeat]", PASSWORD).await;
    click(client, "form#enrol button[type=submit]").await;
    assert_eq!(text_of(client, "#enrolled-username").await, username);
    click(client, "#enrolled-continue").await;
    text_of(client, "table#notices").await;
}

#[tokio::test]
async fn two_officers_enrol_through_their_links_and_one_approves_the_others_alert() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let zone = app
        .create_zone("Північ", &rect(25.30, 50.76, 25.35, 50.79))
        .await;
    let mut residents = Vec::new();
    for i in 0..2 {
        residents.push(
            app.create_resident(json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": format!("+38050765432{i}")}]}))
                .await,
        );
    }
    admin_account(&app, "olena", "Олена Коваль").await;
    let bohdan = new_account(
        &app,
        &json!({"username": "bohdan", "name": "Богдан Ткач", "role": "civil_protection"}),
    )
    .await;
    let bohdan = format!("{}/console#enrol={bohdan}", app.base);

    // The admin creates Anna's account in the console and sees its link
    // once.
    let client = browser(&driver).await;
    sign_in(&client, &app, "olena").await;
    click(&client, "#nav-accounts").await;
    text_of(&client, "form#account-form").await;
    type_into(&client, "#account-form input[name=username]", "anna").await;
    type_into(&client, "#account-form input[name=name]", "Анна Коваль").await;
    client
        .find(Locator::Css("#account-form select[name=role]"))
        .await
        .unwrap()
        .select_by_value("civil_protection")
        .await
        .unwrap();
    click(&client, "#create-account").await;
    let link = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#enrolment-url"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("the link");
    assert!(
        link.starts_with(&format!("{}/console#enrol=", app.base)),
        "{link}"
    );
    wait_for_xpath(&client, "//tr[td='anna']/td[@data-password='none']").await;
    screenshot(&client, "accounts-link").await;
    click(&client, "button#sign-out").await;
    text_of(&client, "form#sign-in").await;

    enrol_in_browser(&client, &link, "anna").await;
    screenshot(&client, "enrolled").await;
    click(&client, "#nav-alerts").await;
    click(&client, "#new-alert").await;
    text_of(&client, "form#alert-form").await;
    // Drills look different from the start.
    client
        .find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("Exercise")
        .await
        .unwrap();
    wait_for_xpath(&client, "//form[@id='alert-form'][@data-status='Exercise']").await;
    assert!(text_of(&client, "#status-hint").await.contains("EXERCISE"));
    client
        .find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("Actual")
        .await
        .unwrap();
    type_into(&client, "input[name=event]", "Витік газу").await;
    type_into(
        &client,
        "input[name=headline]",
        "Витік газу на півночі міста",
    )
    .await;
    // The area typed in, not drawn: the form works from the keyboard.
    type_into(&client, "input[name=circle_lat]", "50.775").await;
    type_into(&client, "input[name=circle_lon]", "25.325").await;
    type_into(&client, "input[name=circle_radius_m]", "1000").await;
    screenshot(&client, "alert-compose").await;
    click(&client, "#create-alert").await;
    wait_for_xpath(&client, "//strong[@id='alert-state'][.='pending']").await;
    assert_eq!(
        app.outbox("channel=sms").await.len(),
        0,
        "nothing before approval"
    );
    // The creator is not offered to approve their own alert.
    text_of(&client, "#needs-second").await;
    assert_absent(&client, "#approve").await;
    screenshot(&client, "alert-pending").await;
    click(&client, "button#sign-out").await;
    text_of(&client, "form#sign-in").await;

    // The second person enrols through their own link and approves.
    enrol_in_browser(&client, &bohdan, "bohdan").await;
    click(&client, "#nav-alerts").await;
    let queue = text_of(&client, "#approval-queue").await;
    assert!(queue.contains("Витік газу на півночі міста"), "{queue}");
    assert!(queue.contains("ACTUAL"), "{queue}");
    screenshot(&client, "alerts-approval-queue").await;
    click(&client, "#approval-queue button.approve").await;
    wait_for_xpath(&client, "//strong[@id='alert-state'][.='sent']").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.outbox("channel=sms").await.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the alert never reached both residents"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_xpath(
        &client,
        "//tr[@data-channel='sms']/td[@data-state='sent'][.='2']",
    )
    .await;
    assert_eq!(
        text_of(&client, "#alert-created-by").await,
        "Анна Коваль (anna)"
    );
    assert_eq!(
        text_of(&client, "#alert-approved-by").await,
        "Богдан Ткач (bohdan)",
        "both people are named"
    );
    screenshot(&client, "alert-sent").await;

    // A drill, sent by another system's token to the test audience, is
    // listed with its report, marked TEST.
    let r = app
        .post(
            "/api/v1/audiences",
            &json!({"name": "duty", "residents": [residents[0]]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = app
        .post("/api/v1/operators", &json!({"name": "Сирена-бот"}))
        .await;
    let bot = r.body["token"].as_str().unwrap().to_owned();
    let drill = json!({"status": "Test", "audience": "duty", "infos": [{"language": "uk-UA",
        "event": "Перевірка", "urgency": "Immediate", "severity": "Minor", "certainty": "Observed",
        "headline": "Перевірка системи оповіщення",
        "areas": [{"area_desc": "Північ", "zones": [zone]}]}]});
    let r = app.post_as(&bot, "/api/v1/alerts", &drill).await;
    assert_eq!(r.status, 201, "{r:?}");
    click(&client, "#nav-alerts").await;
    let reports = text_of(&client, "#drill-reports").await;
    assert!(
        reports.contains("TEST") && reports.contains("Перевірка системи оповіщення"),
        "{reports}"
    );
    click(&client, "#drill-reports a").await;
    wait_for_xpath(&client, "//p[@id='alert-audience'][contains(., 'duty')]").await;
    screenshot(&client, "drill-report").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_resident_subscribes_on_the_public_page_and_gets_the_next_notice() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let phone = "+380931234567";
    let client = browser(&driver).await;
    client.goto(&app.url("/")).await.unwrap();
    click(&client, &format!("#zones input[value='{zone}']")).await;
    type_into(&client, "#subscribe input[name=address]", phone).await;
    click(&client, "#subscribe button[type=submit]").await;
    wait_for_xpath(&client, "//p[@id='code-sent'][normalize-space(.) != '']").await;
    let texts: Vec<String> = app
        .outbox("channel=sms")
        .await
        .iter()
        .filter(|m| m["address"] == phone)
        .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 1, "one code: {texts:?}");
    let code: String = texts[0]
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_owned();
    type_into(&client, "#verify input[name=code]", &code).await;
    click(&client, "#verify button[type=submit]").await;
    let done = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#subscribed:not([hidden])"))
        .await
        .expect("the page says the subscription is done");
    assert!(!done.text().await.unwrap().is_empty());
    screenshot(&client, "resident-subscribed").await;

    let notice = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    let id = notice["id"].as_i64().unwrap();
    app.wait_settled(id).await;
    let sent = app.outbox(&format!("notice={id}&channel=sms")).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["address"], phone);

    client.goto(&app.url("/")).await.unwrap();
    let item = text_of(&client, &format!("li[data-notice='{id}']")).await;
    assert!(item.contains("Ремонт водогону"), "{item}");
    screenshot(&client, "resident-page").await;

    // An executor's title is text on the public map too, never markup.
    let hostile = "Ремонт <img src=x id=injected>";
    let mut body = notice_body("planned", json!({"zones": [zone]}));
    body["title"] = json!(hostile);
    app.publish(body).await;
    client.goto(&app.url("/")).await.unwrap();
    wait_for_xpath(&client, "//li[contains(., 'id=injected')]").await;
    let shown = client
        .execute(
            "state.layers.eachLayer((l) => l.openTooltip && l.getTooltip() && l.openTooltip());\
             return [Array.from(document.querySelectorAll('.leaflet-tooltip'))\
                       .some((t) => t.textContent === arguments[0]),\
                     !!document.getElementById('injected')];",
            vec![json!(hostile)],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!([true, false]));
    client.close().await.unwrap();
}
