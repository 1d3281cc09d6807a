use axum::http::{HeaderName, HeaderValue};

use super::*;

const VECTORS: &str = include_str!("../../../../tests/vectors/webhook_signatures.jsonl");
const TOLERANCE: Duration = Duration::from_secs(300);

struct Vector {
    scheme: Scheme,
    secret: String,
    body: String,
    now: i64,
    headers: HeaderMap,
}

fn vectors() -> Vec<Vector> {
    VECTORS
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let scheme: Scheme = serde_json::from_value(row["scheme"].clone()).unwrap();
            let mut headers = HeaderMap::new();
            for (name, value) in row["headers"].as_object().unwrap() {
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
                );
            }
            Vector {
                scheme,
                secret: row["secret"].as_str().unwrap().to_string(),
                body: row["body"].as_str().unwrap().to_string(),
                now: row["now"].as_i64().unwrap(),
                headers,
            }
        })
        .collect()
}

fn check(v: &Vector, headers: &HeaderMap, body: &[u8], now: i64) -> Result<Verified, Refused> {
    verify(
        v.scheme,
        &key(v.scheme, &v.secret),
        headers,
        body,
        now,
        TOLERANCE,
    )
}

#[test]
fn python_signed_requests_verify_under_each_scheme() {
    let vectors = vectors();
    assert_eq!(
        vectors.iter().map(|v| v.scheme).collect::<Vec<_>>(),
        Scheme::ALL
    );
    for v in &vectors {
        let verified = check(v, &v.headers, v.body.as_bytes(), v.now)
            .unwrap_or_else(|e| panic!("{}: {e}", v.scheme.as_str()));
        let expected = match v.scheme {
            Scheme::Timestamped => Some("dlv_0001"),
            Scheme::Standard => Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            _ => None,
        };
        assert_eq!(verified.delivery.as_deref(), expected);
    }
}

#[test]
fn tampering_of_any_kind_is_refused() {
    for v in vectors() {
        let name = v.scheme.as_str();
        // A price changed in the body.
        let tampered = v.body.replacen("0.6", "0.9", 1).replacen("0.4,", "0.9,", 1);
        assert_ne!(tampered, v.body);
        assert_eq!(
            check(&v, &v.headers, tampered.as_bytes(), v.now),
            Err(Refused::Signature),
            "{name}"
        );
        // The wrong secret.
        let wrong = verify(
            v.scheme,
            &key(v.scheme, "whsec_c29tZXRoaW5nLWVsc2U="),
            &v.headers,
            v.body.as_bytes(),
            v.now,
            TOLERANCE,
        );
        assert_eq!(wrong, Err(Refused::Signature), "{name}");
        // Every signed header missing in turn (VecTrade's delivery id is not signed: it is
        // only a dedupe key).
        for header in v.headers.keys() {
            if header.as_str() == "x-vq-webhook-id" {
                continue;
            }
            let mut less = v.headers.clone();
            less.remove(header);
            assert!(
                matches!(
                    check(&v, &less, v.body.as_bytes(), v.now),
                    Err(Refused::Missing(_))
                ),
                "{name} without {header}"
            );
        }
        if v.scheme.is_timestamped() {
            let ts_header = match v.scheme {
                Scheme::Timestamped => "x-vq-timestamp",
                _ => "webhook-timestamp",
            };
            // The timestamp moved by one second: the signature no longer matches.
            let mut moved = v.headers.clone();
            let ts: i64 = moved[ts_header].to_str().unwrap().parse().unwrap();
            moved.insert(ts_header, HeaderValue::from(ts + 1));
            assert_eq!(
                check(&v, &moved, v.body.as_bytes(), v.now),
                Err(Refused::Signature),
                "{name}"
            );
            // The genuine request, too late or too early.
            for now in [ts + 301, ts - 301] {
                assert!(
                    matches!(
                        check(&v, &v.headers, v.body.as_bytes(), now),
                        Err(Refused::Stale { .. })
                    ),
                    "{name} at {now}"
                );
            }
            assert!(check(&v, &v.headers, v.body.as_bytes(), ts + 300).is_ok());
        }
    }
}

#[test]
fn the_sorted_json_scheme_accepts_any_spacing_and_order_of_the_same_payload() {
    let v = vectors()
        .into_iter()
        .find(|v| v.scheme == Scheme::SortedJson)
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&v.body).unwrap();
    let respelled = serde_json::to_string_pretty(&value).unwrap();
    assert_ne!(respelled, v.body);
    assert!(check(&v, &v.headers, respelled.as_bytes(), v.now).is_ok());
    assert_eq!(
        check(&v, &v.headers, b"not json", v.now),
        Err(Refused::NotJson)
    );
}

#[test]
fn malformed_signatures_are_refused_not_panicked_on() {
    let v = vectors()
        .into_iter()
        .find(|v| v.scheme == Scheme::Rekko)
        .unwrap();
    for bad in ["", "zz", "sha256=abc", "d741", &"a".repeat(10_000)] {
        let mut headers = HeaderMap::new();
        headers.insert("x-webhook-signature", HeaderValue::from_str(bad).unwrap());
        assert!(
            check(&v, &headers, v.body.as_bytes(), v.now).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn what_sign_writes_verifies_and_matches_the_reference_implementation() {
    let body = br#"{"type":"price_shift","market_id":"M","platform":"kalshi"}"#;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    for scheme in Scheme::ALL {
        let key = key(scheme, secret);
        let mut headers = HeaderMap::new();
        for (name, value) in sign(scheme, &key, body, "msg_1", 1_700_000_000) {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        let verified = verify(scheme, &key, &headers, body, 1_700_000_000, TOLERANCE).unwrap();
        assert_eq!(
            verified.delivery.is_some(),
            scheme.delivery_header().is_some()
        );
        if scheme == Scheme::Standard {
            let reference = standardwebhooks::Webhook::new(secret)
                .unwrap()
                .sign("msg_1", 1_700_000_000, body)
                .unwrap();
            assert_eq!(headers["webhook-signature"], reference.as_str());
        }
    }
}
