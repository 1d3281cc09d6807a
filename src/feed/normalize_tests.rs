//! Tests of [`super::LineNormalizer`] on byte slices split at every position.

use super::*;

/// Output of the whole input pushed as one chunk, then finished.
fn run_whole(input: &[u8]) -> (Vec<u8>, Option<Duration>) {
    let mut n = LineNormalizer::new();
    let mut out = n.push(input);
    out.extend(n.finish());
    (out, n.retry())
}

/// Asserts that every split of `input` into two chunks (and into single bytes) gives
/// `expected` and the same retry observation.
fn assert_all_splits(input: &[u8], expected: &[u8], retry: Option<Duration>) {
    let (whole, whole_retry) = run_whole(input);
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(expected),
        "whole input"
    );
    assert_eq!(whole_retry, retry);
    for split in 0..=input.len() {
        let mut n = LineNormalizer::new();
        let mut out = n.push(&input[..split]);
        out.extend(n.push(&input[split..]));
        out.extend(n.finish());
        assert_eq!(out, expected, "split at {split}");
        assert_eq!(n.retry(), retry, "retry, split at {split}");
    }
    let mut n = LineNormalizer::new();
    let mut out = Vec::new();
    for byte in input {
        out.extend(n.push(std::slice::from_ref(byte)));
    }
    out.extend(n.finish());
    assert_eq!(out, expected, "byte by byte");
}

#[test]
fn sse_block_gets_a_leading_empty_id() {
    assert_all_splits(
        b"id: 7\nevent: price_shift\ndata: {\"type\":\"price_shift\"}\n\n",
        b"id:\nid: 7\nevent: price_shift\ndata: {\"type\":\"price_shift\"}\n\n",
        None,
    );
}

#[test]
fn bare_json_line_becomes_an_event_with_its_id() {
    assert_all_splits(
        b"{\"type\":\"price_shift\",\"id\":\"e-1\"}\n{\"type\":\"x\"}\n",
        b"id: e-1\ndata: {\"type\":\"price_shift\",\"id\":\"e-1\"}\n\n\
          id:\ndata: {\"type\":\"x\"}\n\n",
        None,
    );
}

#[test]
fn json_ids_that_cannot_be_sse_ids_are_not_used() {
    let (out, _) = run_whole(b"{\"id\":5}\n{\"id\":\"\"}\n{\"id\":\"a\\nb\"}\n");
    assert_eq!(
        out,
        b"id:\ndata: {\"id\":5}\n\nid:\ndata: {\"id\":\"\"}\n\nid:\ndata: {\"id\":\"a\\nb\"}\n\n"
    );
}

#[test]
fn crlf_cr_and_bom_are_normalised() {
    assert_all_splits(
        b"\xEF\xBB\xBF: hi\r\nid: 1\r\ndata: {}\r\rdata: x\r\n\r\n",
        b": hi\nid:\nid: 1\ndata: {}\n\nid:\ndata: x\n\n",
        None,
    );
}

#[test]
fn bom_only_counts_at_stream_start() {
    let (out, _) = run_whole(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(out, "id:\ndata: a\n\nid:\n\u{FEFF}data: b\n\n".as_bytes());
}

#[test]
fn retry_is_observed_and_latest_wins() {
    assert_all_splits(
        b"retry: 50\n\nretry:x\n\nretry: 70\ndata: {}\n\n",
        b"id:\nretry: 50\n\nid:\nretry:x\n\nid:\nretry: 70\ndata: {}\n\n",
        Some(Duration::from_millis(70)),
    );
    let (_, retry) = run_whole(b"retry: -5\n\nretry: 99999999999999999999999\n\n");
    assert_eq!(retry, None);
}

#[test]
fn comments_do_not_open_blocks() {
    assert_all_splits(b": ping\n\n: ping\n\n", b": ping\n: ping\n", None);
}

#[test]
fn json_line_inside_an_open_block_closes_it_first() {
    assert_all_splits(
        b"event: a\n{\"type\":\"b\"}\ndata: c\n\n",
        b"id:\nevent: a\n\nid:\ndata: {\"type\":\"b\"}\n\nid:\ndata: c\n\n",
        None,
    );
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let (out, _) = run_whole(b"{\"m\":\"\xff\xfe\"}\ndata: \xc3\n\n");
    assert_eq!(
        String::from_utf8(out).expect("output is UTF-8"),
        "id:\ndata: {\"m\":\"\u{FFFD}\u{FFFD}\"}\n\nid:\ndata: \u{FFFD}\n\n"
    );
}

#[test]
fn over_long_lines_are_dropped_at_any_split() {
    let input = b"data: 0123456789ABCDEF\n{\"type\":\"ok\"}\n";
    let expected = b"id:\ndata: {\"type\":\"ok\"}\n\n";
    for split in 0..=input.len() {
        let mut n = LineNormalizer::with_max_line(16);
        let mut out = n.push(&input[..split]);
        out.extend(n.push(&input[split..]));
        out.extend(n.finish());
        assert_eq!(out, expected, "split at {split}");
        assert_eq!(n.dropped_lines(), 1);
    }
}

#[test]
fn unterminated_last_line_is_kept_only_if_complete_json() {
    assert_all_splits(
        b"{\"type\":\"a\"}",
        b"id:\ndata: {\"type\":\"a\"}\n\n",
        None,
    );
    assert_all_splits(b"{\"type\":\"a\"", b"", None);
    // An SSE block without its blank line is no event: it is held back, then discarded.
    assert_all_splits(b"data: {}\n", b"", None);
}

#[test]
fn an_event_over_the_cap_is_dropped_and_the_stream_goes_on() {
    // 40 data lines of 10 bytes without a blank line: one event of 400+ bytes.
    let mut input = Vec::new();
    for _ in 0..40 {
        input.extend_from_slice(b"data: 0123456789\n");
    }
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"id: 2\ndata: small\n\n{\"type\":\"x\"}\n");
    let long_json = format!("{{\"type\":\"{}\"}}\n", "y".repeat(300));
    input.extend_from_slice(long_json.as_bytes());
    input.extend_from_slice(b": hb\n");
    let expected: &[u8] = b"id:\nid: 2\ndata: small\n\nid:\ndata: {\"type\":\"x\"}\n\n: hb\n";
    for split in 0..=input.len() {
        let mut n = LineNormalizer::with_max_event(200);
        let mut out = n.push(&input[..split]);
        out.extend(n.push(&input[split..]));
        out.extend(n.finish());
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(expected),
            "split at {split}"
        );
        assert_eq!(n.dropped_events(), 2, "split at {split}");
    }
}

#[test]
fn memory_stays_bounded_however_long_an_event_grows() {
    let mut n = LineNormalizer::with_max_event(1024);
    let line = b"data: 0123456789012345678901234567890123456789\n";
    for _ in 0..100_000 {
        assert!(
            n.push(line).is_empty(),
            "nothing of an unfinished event leaves"
        );
        assert!(n.block.capacity() <= 4096 && n.line.capacity() <= 4096);
    }
    assert_eq!(n.dropped_events(), 1);
    assert_eq!(
        n.push(b"\nid: next\ndata: 1\n\n"),
        b"id:\nid: next\ndata: 1\n\n"
    );
}

#[test]
fn only_whole_events_and_heartbeats_leave() {
    let mut n = LineNormalizer::new();
    assert!(n.push(b"id: 1\nda").is_empty());
    assert!(
        n.push(b"ta: {}\n").is_empty(),
        "a data line is not yet an event"
    );
    assert_eq!(n.push(b"\n"), b"id:\nid: 1\ndata: {}\n\n");
    assert!(n.push(b": h").is_empty(), "half a heartbeat is nothing");
    assert_eq!(n.push(b"b\n"), b": hb\n");
}

#[test]
fn non_json_and_empty_data_pass_through() {
    assert_all_splits(
        b"data: not json\n\ndata:\n\n",
        b"id:\ndata: not json\n\nid:\ndata:\n\n",
        None,
    );
}

#[test]
fn every_two_way_split_of_a_mixed_stream() {
    let input = b"\xEF\xBB\xBF: hb\r\nretry: 50\r\n\r\nid: 1\r\nevent: price_shift\r\n\
        data: {\"type\":\r\n{\"type\":\"whale_alert\",\"id\":\"w\"}\n\ndata: {}\r";
    let expected = b": hb\nid:\nretry: 50\n\nid:\nid: 1\nevent: price_shift\n\
        data: {\"type\":\n\nid: w\ndata: {\"type\":\"whale_alert\",\"id\":\"w\"}\n\n";
    for first in 0..=input.len() {
        for second in first..=input.len() {
            let mut n = LineNormalizer::new();
            let mut out = n.push(&input[..first]);
            out.extend(n.push(&input[first..second]));
            out.extend(n.push(&input[second..]));
            out.extend(n.finish());
            assert_eq!(out, expected, "splits at {first} and {second}");
            assert_eq!(n.retry(), Some(Duration::from_millis(50)));
        }
    }
}
