//! Table tests of the receiver's decisions.

use super::*;
use crate::resources::{RunnableRef, SecretRef, Webhook};

/// A signature case: what, the signature sent, the keys of the Secret, accepted.
type SignatureCase<'a> = (&'a str, Option<String>, Vec<&'a [u8]>, bool);
/// A request case: what, the trigger, the body, signed, within the rate, the answer.
type RequestCase<'a> = (
    &'a str,
    TriggerSpec,
    &'a [u8],
    bool,
    bool,
    Result<(), Answer>,
);

fn spec(type_: TriggerType, suspend: bool) -> TriggerSpec {
    TriggerSpec {
        type_,
        workflow_ref: RunnableRef::default(),
        schedule: None,
        app_event: (type_ == TriggerType::AppEvent).then(|| AppEvent {
            source: "crm".into(),
            event: "deal.won".into(),
        }),
        webhook: Some(Webhook {
            secret_ref: SecretRef {
                name: "jeton".into(),
            },
            requests_per_minute: None,
        }),
        suspend,
        history_limit: 2,
    }
}

#[test]
fn the_path_is_the_uids_alone_and_names_nothing_else() {
    let path = path_of("9b2f4c1e-0000-4000-8000-000000000001");
    assert!(path.starts_with("/hooks/"), "{path}");
    assert_eq!(path.len(), "/hooks/".len() + 40);
    assert!(path[7..].chars().all(|c| c.is_ascii_hexdigit()), "{path}");
    assert_eq!(
        path,
        path_of("9b2f4c1e-0000-4000-8000-000000000001"),
        "stable"
    );
    assert_ne!(path, path_of("9b2f4c1e-0000-4000-8000-000000000002"));
    assert!(!path.contains("9b2f4c1e"), "the UID is not in it: {path}");
}

#[test]
fn a_signature_of_any_key_is_accepted_and_nothing_else_is() {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (old, new) = (b"ancien-jeton".as_slice(), b"nouveau-jeton".as_slice());
    let by_new = sign(new, body);
    let cases: Vec<SignatureCase> = vec![
        (
            "signed with the only key",
            Some(sign(old, body)),
            vec![old],
            true,
        ),
        (
            "signed with the second key (rotation)",
            Some(by_new.clone()),
            vec![old, new],
            true,
        ),
        (
            "signed with a removed key",
            Some(sign(old, body)),
            vec![new],
            false,
        ),
        ("no signature", None, vec![old], false),
        ("no key at all", Some(by_new.clone()), vec![], false),
        (
            "a signature of another body",
            Some(sign(new, b"{}")),
            vec![new],
            false,
        ),
        (
            "no sha256= prefix",
            Some(by_new[7..].to_string()),
            vec![new],
            false,
        ),
        ("not hex", Some("sha256=zz".to_string()), vec![new], false),
        (
            "cut short",
            Some(by_new[..20].to_string()),
            vec![new],
            false,
        ),
        (
            "upper-case hex is hex",
            Some(format!("sha256={}", by_new[7..].to_uppercase())),
            vec![new],
            true,
        ),
    ];
    for (case, signature, tokens, expected) in cases {
        assert_eq!(
            signed_by_any(body, signature.as_deref(), tokens),
            expected,
            "{case}"
        );
    }
}

#[test]
fn checks_run_in_order_and_the_rate_limit_is_spent_only_by_signed_requests() {
    let token = b"jeton".as_slice();
    let event = br#"{"source":"crm","event":"deal.won","id":7}"#.as_slice();
    let other = br#"{"source":"crm","event":"deal.lost"}"#.as_slice();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let cases: Vec<RequestCase> = vec![
        (
            "a schedule has no path",
            spec(TriggerType::Schedule, false),
            event,
            true,
            true,
            Err(Answer::NotFound),
        ),
        (
            "too large, even unsigned",
            spec(TriggerType::Webhook, false),
            &big,
            false,
            true,
            Err(Answer::TooLarge),
        ),
        (
            "unsigned, suspended: 401 says nothing of suspension",
            spec(TriggerType::Webhook, true),
            event,
            false,
            true,
            Err(Answer::BadSignature),
        ),
        (
            "signed, over the rate",
            spec(TriggerType::Webhook, false),
            event,
            true,
            false,
            Err(Answer::RateLimited),
        ),
        (
            "signed, suspended",
            spec(TriggerType::Webhook, true),
            event,
            true,
            true,
            Err(Answer::Suspended),
        ),
        (
            "app event of another event",
            spec(TriggerType::AppEvent, false),
            other,
            true,
            true,
            Err(Answer::EventMismatch),
        ),
        (
            "app event, not JSON",
            spec(TriggerType::AppEvent, false),
            b"deal.won",
            true,
            true,
            Err(Answer::EventMismatch),
        ),
        (
            "app event that matches",
            spec(TriggerType::AppEvent, false),
            event,
            true,
            true,
            Ok(()),
        ),
        (
            "a webhook takes any body",
            spec(TriggerType::Webhook, false),
            other,
            true,
            true,
            Ok(()),
        ),
    ];
    for (case, spec, body, signed, within, expected) in cases {
        let signature = signed.then(|| sign(token, body));
        let asked = std::cell::Cell::new(false);
        let got = check_request(&spec, body, signature.as_deref(), [token], || {
            asked.set(true);
            within
        });
        assert_eq!(got, expected, "{case}");
        if !signed {
            assert!(
                !asked.get(),
                "{case}: an unsigned request spent the rate limit"
            );
        }
    }
}

#[test]
fn one_delivery_is_one_run_name_per_trigger() {
    let a = run_name(
        "déploiement",
        "uid-1",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    );
    assert_eq!(
        a,
        run_name(
            "déploiement",
            "uid-1",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        )
    );
    assert_ne!(
        a,
        run_name("déploiement", "uid-1", "another"),
        "another delivery"
    );
    assert_ne!(
        a,
        run_name(
            "déploiement",
            "uid-2",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        ),
        "the trigger made again"
    );
    let long = "x".repeat(253);
    assert!(run_name(&long, "uid-1", "d").len() <= 253);
    assert_eq!(delivery_id(Some("  "), Some("gh-1")), Some("gh-1"));
    assert_eq!(delivery_id(Some("ours"), Some("gh-1")), Some("ours"));
    assert_eq!(delivery_id(None, None), None);
}

#[test]
fn answers_have_their_codes_and_bounded_labels() {
    let cases = [
        (
            Answer::Accepted { run: "r".into() },
            201,
            "accepted",
            Some("Created"),
        ),
        (
            Answer::Duplicate { run: "r".into() },
            200,
            "duplicate",
            Some("Duplicate"),
        ),
        (Answer::NotFound, 404, "not_found", None),
        (Answer::TooLarge, 413, "too_large", None),
        (Answer::BadSignature, 401, "bad_signature", None),
        (Answer::RateLimited, 429, "rate_limited", None),
        (Answer::Suspended, 409, "suspended", Some("Suspended")),
        (
            Answer::EventMismatch,
            422,
            "event_mismatch",
            Some("EventMismatch"),
        ),
        (
            Answer::Refused("CreatorMayNotRun"),
            403,
            "refused",
            Some("CreatorMayNotRun"),
        ),
        (Answer::TimedOut, 408, "timed_out", None),
        (Answer::Unavailable, 503, "unavailable", None),
    ];
    for (answer, code, label, recorded) in cases {
        assert_eq!(answer.code(), code, "{answer:?}");
        assert_eq!(answer.metric_result(), label, "{answer:?}");
        assert_eq!(answer.recorded(), recorded, "{answer:?}");
        let body: serde_json::Value = serde_json::from_str(&answer.body()).expect("json");
        assert_eq!(body["result"], label);
    }
    let body: serde_json::Value =
        serde_json::from_str(&Answer::Accepted { run: "r-1".into() }.body()).expect("json");
    assert_eq!(body["run"], "r-1");
}

#[test]
fn the_status_records_signed_deliveries_and_keeps_the_fire_history_bounded() {
    let now = "2026-12-04T10:00:00Z";
    let accepted = Answer::Accepted { run: "r-1".into() };
    let id = "é".repeat(100);
    let after =
        status_after(TriggerStatus::default(), &accepted, Some(&id), 2, now).expect("recorded");
    let delivery = after.last_delivery.clone().expect("delivery");
    assert_eq!(
        (delivery.result.as_str(), delivery.run.as_str()),
        ("Created", "r-1")
    );
    assert_eq!(
        delivery.delivery_id.chars().count(),
        64,
        "cut by characters"
    );
    assert_eq!(after.last_fire_time.as_deref(), Some(now));
    assert_eq!(after.recent_fires.len(), 1);

    let refused = Answer::Refused("CreatorMayNotRun");
    let after = status_after(after, &refused, None, 2, now).expect("recorded");
    let after = status_after(after, &accepted, None, 2, now).expect("recorded");
    let outcomes: Vec<_> = after
        .recent_fires
        .iter()
        .map(|f| f.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["Created", "CreatorMayNotRun"],
        "newest first, at most 2"
    );

    let duplicate = Answer::Duplicate { run: "r-1".into() };
    let again = status_after(after.clone(), &duplicate, None, 2, now).expect("recorded");
    assert_eq!(
        again.recent_fires, after.recent_fires,
        "a redelivery is no fire"
    );
    assert_eq!(again.last_delivery.expect("delivery").result, "Duplicate");
    for unrecorded in [
        Answer::BadSignature,
        Answer::NotFound,
        Answer::RateLimited,
        Answer::TooLarge,
    ] {
        assert!(
            status_after(after.clone(), &unrecorded, None, 2, now).is_none(),
            "{unrecorded:?}"
        );
    }
}

#[test]
fn ready_says_whether_requests_can_fire_it() {
    let refused = Fire {
        scheduled_time: "t".into(),
        run: String::new(),
        outcome: "CreatorMayNotRun".into(),
    };
    let created = Fire {
        outcome: CREATED.into(),
        ..refused.clone()
    };
    let cases = [
        ("listening", false, Token::Usable, None, true, "Listening"),
        (
            "last fire made its run",
            false,
            Token::Usable,
            Some(&created),
            true,
            "Listening",
        ),
        (
            "last fire refused",
            false,
            Token::Usable,
            Some(&refused),
            false,
            "DeliveryRefused",
        ),
        (
            "no Secret",
            false,
            Token::Missing,
            None,
            false,
            "TokenSecretNotFound",
        ),
        (
            "empty Secret",
            false,
            Token::Empty,
            None,
            false,
            "TokenSecretEmpty",
        ),
        ("suspended", true, Token::Missing, None, true, "Suspended"),
    ];
    for (case, suspend, token, last, ready, reason) in cases {
        let got = tick(&spec(TriggerType::Webhook, suspend), token, last);
        let Tick::Idle {
            ready: r,
            reason: why,
            ..
        } = got
        else {
            panic!("{case}: a webhook never fires on the clock");
        };
        assert_eq!((r, why), (ready, reason), "{case}");
    }
}
