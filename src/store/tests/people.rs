//! Console accounts, sessions and code requests on both backends.

use chrono::{Duration, Utc};
use tocsin_channels::ChannelKind;

use super::{pg_done, pg_store, sqlite_store};
use crate::domain::account::{LOCK_AFTER, Password, SessionId, Username};
use crate::domain::auth::{ApiToken, Role};
use crate::domain::text::Text;
use crate::store::{CodeLimit, NewAccount, NewVerification, Store, StoreError};

both!(
    accounts_sign_in_lock_and_sessions_expire,
    code_requests_are_limited_and_count_every_try
);

fn account(name: &str) -> NewAccount {
    NewAccount {
        username: Username::parse(name).unwrap(),
        display_name: Text::parse(name).unwrap(),
        password: Password::parse("correct horse battery").unwrap().hash(),
        role: Role::CivilProtection,
        organisation: None,
        principal: ApiToken::generate().hash(),
    }
}

async fn accounts_sign_in_lock_and_sessions_expire(s: &dyn Store) {
    let a = s.create_account(&account("anna")).await.unwrap();
    assert!(matches!(
        s.create_account(&account("anna")).await,
        Err(StoreError::Conflict(_))
    ));
    let name = Username::parse("ANNA").unwrap();
    let login = s.login_record(&name).await.unwrap().unwrap();
    assert!(login.hash.verify("correct horse battery"));
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
