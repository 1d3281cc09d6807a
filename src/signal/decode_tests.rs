//! Fixtures for `decode_signal`, fed as the bytes a server would send.

use super::*;
use chrono::{TimeZone, Utc};
use rust_decimal_macros::dec;

fn decode_bytes(bytes: &str) -> Result<Signal, String> {
    decode_signal(bytes)
}

#[test]
fn full_documented_response_decodes() {
    let signal = decode_bytes(
        r#"{"market":"kalshi/KXFED-26MAR19","recommendation":"BUY_YES","edge":0.062,
            "target_price":0.70,"confidence":0.8,"risk_rating":"medium","size_pct":0.05,
            "time_horizon":"1w","freshness":"fresh","generated_at":"2026-03-20T10:00:00Z",
            "expires_at":"2026-03-20T11:00:00+01:00","probability":0.682}"#,
    );
    assert_eq!(
        signal,
        Ok(Signal {
            recommendation: Recommendation::BuyYes,
            edge: dec!(0.062),
            probability: Some(dec!(0.682)),
            expires_at: Utc.with_ymd_and_hms(2026, 3, 20, 10, 0, 0).single(),
            freshness: Some("fresh".into()),
        })
    );
}

#[test]
fn only_recommendation_and_edge_are_required() {
    let signal = decode_bytes(r#"{"recommendation":"NO_TRADE","edge":0}"#);
    assert_eq!(
        signal,
        Ok(Signal {
            recommendation: Recommendation::NoTrade,
            edge: Decimal::ZERO,
            probability: None,
            expires_at: None,
            freshness: None,
        })
    );
}

#[test]
fn numbers_and_strings_read_exactly() {
    let cases = [
        (r#"0.062"#, dec!(0.062)),
        (r#""0.062""#, dec!(0.062)),
        (r#"0.1"#, dec!(0.1)),
        (r#"0.3"#, dec!(0.3)),
        (r#"1"#, dec!(1)),
        (r#"0.123456789012345"#, dec!(0.123456789012345)),
        (r#"6.2e-2"#, dec!(0.062)),
        (r#"" 0.0620 ""#, dec!(0.0620)),
        (r#""0.12345678901234567890""#, dec!(0.12345678901234567890)),
        (r#""6.2e-2""#, dec!(0.062)),
        (r#"1e-7"#, dec!(0.0000001)),
    ];
    for (edge, expected) in cases {
        let body = format!(r#"{{"recommendation":"BUY_YES","edge":{edge}}}"#);
        let signal = decode_bytes(&body);
        assert_eq!(
            signal.map(|s| s.edge.to_string()),
            Ok(expected.to_string()),
            "edge {edge}"
        );
    }
    let no = decode_bytes(r#"{"recommendation":"BUY_NO","edge":-0.035}"#);
    assert_eq!(no.map(|s| s.edge), Ok(dec!(-0.035)));
    let string_scale = decode_bytes(r#"{"recommendation":"BUY_YES","edge":"0.0620"}"#);
    assert_eq!(
        string_scale.map(|s| s.edge.scale()),
        Ok(4),
        "a string keeps its digits"
    );
}

#[test]
fn missing_or_malformed_required_fields_fail_with_clear_reasons() {
    let cases = [
        (r#"{"edge":0.05}"#, "signal response: recommendation missing"),
        (r#"{"recommendation":null,"edge":0.05}"#, "signal response: recommendation missing"),
        (r#"{"recommendation":"BUY_YES"}"#, "signal response: edge missing"),
        (r#"{"recommendation":"BUY_YES","edge":null}"#, "signal response: edge missing"),
        (
            r#"{"recommendation":"BUY","edge":0.05}"#,
            "signal response: unknown recommendation \"BUY\" (expected BUY_YES, BUY_NO or NO_TRADE)",
        ),
        (
            r#"{"recommendation":1,"edge":0.05}"#,
            "signal response: recommendation must be a string, got a number",
        ),
        (r#"{"recommendation":"BUY_YES","edge":"abc"}"#, "signal response: edge \"abc\" is not a finite decimal number"),
        (r#"{"recommendation":"BUY_YES","edge":"NaN"}"#, "signal response: edge \"NaN\" is not a finite decimal number"),
        (r#"{"recommendation":"BUY_YES","edge":"inf"}"#, "signal response: edge \"inf\" is not a finite decimal number"),
        (
            r#"{"recommendation":"BUY_YES","edge":true}"#,
            "signal response: edge must be a number or a numeric string, got a boolean",
        ),
        (r#"{"recommendation":"BUY_YES","edge":1.5}"#, "signal response: edge 1.5 is outside [-1, 1]"),
        (r#"{"recommendation":"BUY_NO","edge":"-2"}"#, "signal response: edge -2 is outside [-1, 1]"),
        (r#"{"recommendation":"BUY_YES","edge":1e300}"#, "signal response: edge \"1e300\" is not a finite decimal number"),
    ];
    for (body, reason) in cases {
        assert_eq!(decode_bytes(body), Err(reason.to_string()), "{body}");
    }
}

#[test]
fn edge_sign_must_match_the_side() {
    assert_eq!(
        decode_bytes(r#"{"recommendation":"BUY_YES","edge":-0.04}"#),
        Err("signal response: BUY_YES with negative edge -0.04 is inconsistent".into())
    );
    assert_eq!(
        decode_bytes(r#"{"recommendation":"BUY_NO","edge":0.04}"#),
        Err("signal response: BUY_NO with positive edge 0.04 is inconsistent".into())
    );
    // Zero is not inconsistent (sizing refuses it), nor is any sign on NO_TRADE.
    assert!(decode_bytes(r#"{"recommendation":"BUY_YES","edge":0}"#).is_ok());
    assert!(decode_bytes(r#"{"recommendation":"BUY_NO","edge":0}"#).is_ok());
    assert!(decode_bytes(r#"{"recommendation":"NO_TRADE","edge":-0.3}"#).is_ok());
    assert!(decode_bytes(r#"{"recommendation":"NO_TRADE","edge":0.3}"#).is_ok());
}

#[test]
fn recommendation_is_read_case_insensitively() {
    let signal = decode_bytes(r#"{"recommendation":" buy_no ","edge":-0.1}"#);
    assert_eq!(signal.map(|s| s.recommendation), Ok(Recommendation::BuyNo));
}

#[test]
fn malformed_optional_fields_are_ignored() {
    let signal = decode_bytes(
        r#"{"recommendation":"BUY_NO","edge":"-0.08","probability":"sixty",
            "freshness":["fresh"],"confidence":"high"}"#,
    );
    assert_eq!(
        signal,
        Ok(Signal {
            recommendation: Recommendation::BuyNo,
            edge: dec!(-0.08),
            probability: None,
            expires_at: None,
            freshness: None,
        })
    );
    for probability in ["1.2", "-0.1", "62", "\"1.01\"", "{}"] {
        let body =
            format!(r#"{{"recommendation":"BUY_YES","edge":0.1,"probability":{probability}}}"#);
        assert_eq!(
            decode_bytes(&body).map(|s| s.probability),
            Ok(None),
            "{probability}"
        );
    }
}

#[test]
fn an_unreadable_expiry_fails_the_signal() {
    for (value, why) in [
        (r#""tomorrow""#, r#"expires_at "tomorrow" is not RFC 3339"#),
        (
            r#""yesterday""#,
            r#"expires_at "yesterday" is not RFC 3339"#,
        ),
        ("0", "expires_at must be an RFC 3339 string, got a number"),
        (
            "1767225600",
            "expires_at must be an RFC 3339 string, got a number",
        ),
        ("[]", "expires_at must be an RFC 3339 string, got an array"),
    ] {
        let body = format!(r#"{{"recommendation":"BUY_YES","edge":0.1,"expires_at":{value}}}"#);
        let err = decode_bytes(&body).expect_err(value);
        assert!(err.contains(why), "{value}: {err}");
    }
    let absent = decode_bytes(r#"{"recommendation":"BUY_YES","edge":0.1,"expires_at":null}"#);
    assert_eq!(absent.map(|s| s.expires_at), Ok(None));
}

#[test]
fn probability_bounds_are_inclusive_and_exact() {
    for (text, expected) in [
        ("0", dec!(0)),
        ("1", dec!(1)),
        ("\"0.6820\"", dec!(0.6820)),
        ("0.682", dec!(0.682)),
    ] {
        let body = format!(r#"{{"recommendation":"BUY_YES","edge":0.1,"probability":{text}}}"#);
        assert_eq!(
            decode_bytes(&body).map(|s| s.probability),
            Ok(Some(expected)),
            "{text}"
        );
    }
}

#[test]
fn freshness_is_normalised_so_expired_is_recognised() {
    let signal = decode_bytes(r#"{"recommendation":"BUY_YES","edge":0.1,"freshness":" Expired "}"#);
    assert_eq!(signal.map(|s| s.freshness), Ok(Some("expired".into())));
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    for body in [
        r#"[]"#,
        r#""BUY_YES""#,
        r#"42"#,
        r#"null"#,
        r#"true"#,
        r#"[{"recommendation":"BUY_YES","edge":0.1}]"#,
    ] {
        let result = decode_bytes(body);
        assert!(
            result
                .as_ref()
                .is_err_and(|e| e.starts_with("signal response: expected a JSON object")),
            "{body}: {result:?}"
        );
    }
    let long = format!(
        r#"{{"recommendation":"{}","edge":0.1}}"#,
        "X".repeat(100_000)
    );
    let reason = decode_bytes(&long).err().unwrap_or_default();
    assert!(
        reason.len() < 200,
        "the reason quotes only a short prefix: {}",
        reason.len()
    );
}
