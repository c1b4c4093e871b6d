//! Console accounts, enrolment links, sessions, who may approve an
//! alert, and code requests on both backends.

use chrono::{Duration, Utc};
use tocsin_channels::ChannelKind;

use super::{notice, pg_done, pg_store, sqlite_store};
use crate::domain::account::{
    ENROLMENT_HOURS, EnrolmentToken, LOCK_AFTER, LinkState, Password, PasswordState, SessionId,
    Username,
};
use crate::domain::alert::AlertState;
use crate::domain::auth::{ApiToken, PrincipalKind, Role, TokenHash};
use crate::domain::text::Text;
use crate::store::{
    CodeLimit, NewAccount, NewAlert, NewEnrolment, NewVerification, Operator, Release, Store,
    StoreError,
};

both!(
    accounts_sign_in_lock_and_sessions_expire,
    an_enrolment_link_works_once_until_it_expires_or_is_replaced,
    only_a_self_enrolled_person_other_than_the_creator_approves,
    code_requests_are_limited_and_count_every_try
);

const PASSWORD: &str = "correct horse battery";

fn link(token: &EnrolmentToken) -> NewEnrolment {
    NewEnrolment {
        token: token.hash(),
        expires_at: Utc::now() + Duration::hours(ENROLMENT_HOURS),
    }
}

fn account(name: &str, token: &EnrolmentToken) -> NewAccount {
    NewAccount {
        username: Username::parse(name).unwrap(),
        display_name: Text::parse(name).unwrap(),
        role: Role::CivilProtection,
        organisation: None,
        principal: ApiToken::generate().hash(),
        enrolment: link(token),
    }
}

/// An account enrolled through its link with `PASSWORD`.
async fn enrolled(s: &dyn Store, name: &str) -> i64 {
    let token = EnrolmentToken::generate();
    let a = s.create_account(&account(name, &token)).await.unwrap();
    let hash = Password::parse(PASSWORD).unwrap().hash();
    let used = s.enrol(&token.hash(), &hash, Utc::now()).await.unwrap();
    assert_eq!(used, Some(a.id));
    a.id
}

async fn accounts_sign_in_lock_and_sessions_expire(s: &dyn Store) {
    let id = enrolled(s, "anna").await;
    let a = s
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == id)
        .unwrap();
    assert_eq!(a.password_state, PasswordState::Own);
    let again = account("anna", &EnrolmentToken::generate());
    assert!(matches!(
        s.create_account(&again).await,
        Err(StoreError::Conflict(_))
    ));
    let name = Username::parse("ANNA").unwrap();
    let login = s.login_record(&name).await.unwrap().unwrap();
    assert!(login.hash.unwrap().verify(PASSWORD));
    let now = Utc::now();
    for i in 1..LOCK_AFTER {
        assert_eq!(
            s.login_failed(a.id, now).await.unwrap(),
            None,
            "failure {i}"
        );
    }
    let until = s.login_failed(a.id, now).await.unwrap().expect("locked");
    assert!(until > now);
    assert!(s.login_record(&name).await.unwrap().unwrap().locked_at(now));

    let first = SessionId::generate();
    let expires = now + Duration::hours(1);
    s.open_session(a.id, &first.hash(), "csrf-1", expires, None)
        .await
        .unwrap();
    let login = s.login_record(&name).await.unwrap().unwrap();
    assert_eq!(
        (login.failures, login.locked_until),
        (0, None),
        "a sign-in resets"
    );
    let session = s.session(&first.hash(), now).await.unwrap().unwrap();
    assert_eq!(session.principal.role, Role::CivilProtection);
    assert_eq!(session.csrf_token, "csrf-1");
    assert!(
        s.session(&first.hash(), expires).await.unwrap().is_none(),
        "expired"
    );

    let second = SessionId::generate();
    s.open_session(a.id, &second.hash(), "csrf-2", expires, Some(&first.hash()))
        .await
        .unwrap();
    assert!(
        s.session(&first.hash(), now).await.unwrap().is_none(),
        "replaced"
    );
    s.close_session(&second.hash()).await.unwrap();
    assert!(s.session(&second.hash(), now).await.unwrap().is_none());
}

async fn an_enrolment_link_works_once_until_it_expires_or_is_replaced(s: &dyn Store) {
    let now = Utc::now();
    let token = EnrolmentToken::generate();
    let a = s.create_account(&account("bohdan", &token)).await.unwrap();
    assert_eq!(a.password_state, PasswordState::None);
    let name = Username::parse("bohdan").unwrap();
    let login = s.login_record(&name).await.unwrap().unwrap();
    assert!(login.hash.is_none(), "nothing signs in before enrolment");
    let state =
        |t: TokenHash, at| async move { s.enrolment(&t, at).await.unwrap().map(|e| e.state) };
    assert_eq!(state(token.hash(), now).await, Some(LinkState::Usable));
    assert_eq!(state(TokenHash::of("guess"), now).await, None);

    // After 72 hours the link is dead.
    let late = now + Duration::hours(ENROLMENT_HOURS) + Duration::seconds(1);
    let hash = Password::parse(PASSWORD).unwrap().hash();
    assert_eq!(state(token.hash(), late).await, Some(LinkState::Expired));
    assert_eq!(s.enrol(&token.hash(), &hash, late).await.unwrap(), None);

    // Once, even when two tries race.
    let once = token.hash();
    let tries = futures::future::join_all((0..3).map(|_| s.enrol(&once, &hash, now))).await;
    let used: Vec<i64> = tries.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(used, vec![a.id], "used once");
    assert_eq!(state(token.hash(), now).await, Some(LinkState::Used));
    let login = s.login_record(&name).await.unwrap().unwrap();
    assert!(login.hash.unwrap().verify(PASSWORD));
    let session = SessionId::generate();
    let until = now + Duration::hours(1);
    s.open_session(a.id, &session.hash(), "csrf", until, None)
        .await
        .unwrap();
    let person = s.session(&session.hash(), now).await.unwrap().unwrap();
    assert!(person.principal.person.unwrap().own_password);

    // A new link voids the password, the session and the unused link.
    let second = EnrolmentToken::generate();
    let r = s.reissue_enrolment(a.id, &link(&second)).await.unwrap();
    assert!(r.had_password);
    assert_eq!((r.sessions_ended, r.links_replaced), (1, 0));
    assert_eq!(r.account.password_state, PasswordState::None);
    assert!(s.session(&session.hash(), now).await.unwrap().is_none());
    assert!(s.login_record(&name).await.unwrap().unwrap().hash.is_none());
    let third = EnrolmentToken::generate();
    let r = s.reissue_enrolment(a.id, &link(&third)).await.unwrap();
    assert_eq!((r.had_password, r.links_replaced), (false, 1));
    assert_eq!(state(second.hash(), now).await, Some(LinkState::Replaced));
    assert_eq!(s.enrol(&second.hash(), &hash, now).await.unwrap(), None);
    assert_eq!(
        s.enrol(&third.hash(), &hash, now).await.unwrap(),
        Some(a.id)
    );
    assert!(matches!(
        s.reissue_enrolment(a.id + 100, &link(&EnrolmentToken::generate()))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// The principal behind a fresh session of `account`.
async fn principal_of(s: &dyn Store, account: i64) -> Operator {
    let id = SessionId::generate();
    let until = Utc::now() + Duration::hours(1);
    s.open_session(account, &id.hash(), "csrf", until, None)
        .await
        .unwrap();
    let session = s.session(&id.hash(), Utc::now()).await.unwrap().unwrap();
    Operator {
        token: session.principal.token,
        name: session.principal.name,
        username: Some(session.username),
    }
}

fn pending_alert(identifier: &str, creator: &Operator) -> NewAlert {
    NewAlert {
        identifier: identifier.to_owned(),
        sender: "cp@lutsk.example".to_owned(),
        sent: Utc::now(),
        status: "Actual".to_owned(),
        msg_type: "Alert".to_owned(),
        scope: "Public".to_owned(),
        headline: "Тривога".to_owned(),
        urgent: false,
        expires: None,
        cap: "<alert/>".to_owned(),
        state: AlertState::Pending,
        references: None,
        audience: None,
        widened: false,
        template: None,
        creator: creator.clone(),
    }
}

async fn only_a_self_enrolled_person_other_than_the_creator_approves(s: &dyn Store) {
    let anna = principal_of(s, enrolled(s, "anna").await).await;
    let petro = principal_of(s, enrolled(s, "petro").await).await;
    let token = EnrolmentToken::generate();
    let waiting = s.create_account(&account("olha", &token)).await.unwrap();
    let olha = principal_of(s, waiting.id).await;
    let feed_token = ApiToken::generate();
    let feed = Operator {
        token: s.create_operator("Шлюз", &feed_token.hash()).await.unwrap(),
        name: "Шлюз".to_owned(),
        username: None,
    };
    let sends = Release::Notice {
        notice: notice(),
        candidates: vec![],
    };
    let by_person = s
        .insert_alert(&pending_alert("A1", &anna), None, &[])
        .await
        .unwrap();
    assert_eq!(by_person.created_by_kind, PrincipalKind::Person);
    assert_eq!(by_person.created_by_username.as_deref(), Some("anna"));
    let by_feed = s
        .insert_alert(&pending_alert("A2", &feed), None, &[])
        .await
        .unwrap();
    assert_eq!(by_feed.created_by_kind, PrincipalKind::Token);
    for (who, alert) in [(&anna, &by_person), (&feed, &by_feed), (&olha, &by_feed)] {
        let refused = s.approve_alert(alert.id, who, &sends, &[]).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{} approved alert {}: {refused:?}",
            who.name,
            alert.id
        );
    }
    let second_token = Operator {
        token: s
            .create_operator("Другий", &ApiToken::generate().hash())
            .await
            .unwrap(),
        name: "Другий".to_owned(),
        username: None,
    };
    let refused = s
        .approve_alert(by_feed.id, &second_token, &sends, &[])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );

    for alert in [&by_person, &by_feed] {
        let sent = s
            .approve_alert(alert.id, &petro, &sends, &[])
            .await
            .unwrap();
        assert_eq!(sent.state, AlertState::Sent);
        assert_eq!(sent.approved_by.as_deref(), Some("petro"));
        assert_eq!(sent.approved_by_kind, Some(PrincipalKind::Person));
        assert_eq!(sent.approved_by_username.as_deref(), Some("petro"));
    }
}

fn request(address: &str) -> NewVerification {
    NewVerification {
        channel: ChannelKind::Sms,
        address: address.to_owned(),
        code_hash: "hash".to_owned(),
        request: "{}".to_owned(),
        expires_at: Utc::now() + Duration::minutes(10),
    }
}

async fn code_requests_are_limited_and_count_every_try(s: &dyn Store) {
    let now = Utc::now();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            s.create_verification(&request("+380501"), now, 10)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(
        s.create_verification(&request("+380501"), now, 10)
            .await
            .unwrap(),
        Err(CodeLimit::Address)
    );
    assert_eq!(
        s.create_verification(&request("+380502"), now, 3)
            .await
            .unwrap(),
        Err(CodeLimit::Installation)
    );
    // An hour later the address may ask again; a day later old rows go.
    let later = now + Duration::hours(25);
    assert!(
        s.create_verification(&request("+380501"), later, 10)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        s.try_verification(ids[0]).await.unwrap().is_none(),
        "purged"
    );

    let id = s
        .create_verification(&request("+380503"), later, 10)
        .await
        .unwrap()
        .unwrap();
    let tries: Vec<u32> = futures::future::join_all((0..4).map(|_| s.try_verification(id)))
        .await
        .into_iter()
        .map(|v| v.unwrap().unwrap().tries)
        .collect();
    let mut sorted = tries.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![1, 2, 3, 4], "each try counted once: {tries:?}");
    s.delete_verification(id).await.unwrap();
    assert!(s.try_verification(id).await.unwrap().is_none());
}
