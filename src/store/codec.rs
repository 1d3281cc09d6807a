//! How record values are written: JSON (decimals as strings), compressed by zstd against a
//! dictionary built into the binary ([`DICTIONARY`], typical records), one small frame per
//! record: events, decisions, trades, positions, market states, totals, counters and the
//! signal budget (the small, rare values — cursor, pauses, outboxes — stay plain JSON).
//!
//! Why: the raw event and the decision are almost all of a store (about 650 of its 680 record
//! bytes per decision, `shiftbot store stats`), a market state and the counters are rewritten
//! with every commit, and most of each is field names and the same few strings. Plain zstd gains little on a 300-byte record; against a dictionary of records like
//! it, it gains most of it. Values stay readable by any sled reader that has zstd and this
//! file, and every reader here decodes both forms: a stored value that starts with `{` is
//! JSON (stores written before this), one that starts with the zstd magic number is a frame.
//!
//! The dictionary can never change: records written with it must stay readable. A new one
//! would need its own marker.

use std::cell::RefCell;

/// Typical records, as raw-content dictionary. Never edit: see the module docs.
pub(crate) const DICTIONARY: &[u8] = include_bytes!("dictionary.ndjson");

/// The zstd frame magic number (little-endian 0xFD2FB528).
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// zstd level: 3 is its default; higher levels buy a few bytes at several times the cost.
const LEVEL: i32 = 3;

/// Largest value a frame may claim to hold (an event is at most `feed.max_event_bytes`,
/// 64 MiB, plus its record): a damaged header must not make us allocate more.
const MAX_RECORD: usize = 80 * 1024 * 1024;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Compress one record's JSON.
pub(crate) fn compress(json: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            use zstd::stream::raw::CParameter;
            let mut compressor = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY)?;
            // sled checksums every page, and the dictionary is implied: 8 bytes a record saved.
            compressor.set_parameter(CParameter::ChecksumFlag(false))?;
            compressor.set_parameter(CParameter::DictIdFlag(false))?;
            compressor.set_parameter(CParameter::ContentSizeFlag(true))?;
            *cell = Some(compressor);
        }
        cell.as_mut().map_or_else(
            || Err(std::io::Error::other("no compressor")),
            |c| c.compress(json),
        )
    })
}

/// The JSON of a stored value: itself, or its decompressed frame.
pub(crate) fn json_of(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if !bytes.starts_with(&MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let size = zstd::zstd_safe::get_frame_content_size(bytes)
        .map_err(|_| "a compressed record with an unreadable frame header".to_string())?
        .ok_or("a compressed record without its size")?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_RECORD)
        .ok_or_else(|| format!("a compressed record claiming {size} bytes"))?;
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let decompressor = zstd::bulk::Decompressor::with_dictionary(DICTIONARY)
                .map_err(|e| format!("cannot load the record dictionary: {e}"))?;
            *cell = Some(decompressor);
        }
        let decompressor = cell.as_mut().ok_or("no decompressor")?;
        decompressor
            .decompress(bytes, size)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| format!("a compressed record does not decompress: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_shrink_and_plain_json_still_reads() {
        let event = br#"{"seq":48213,"id":"48213","server_id":"48213","event_type":"price_shift","sse_event":null,"data":"{\"type\":\"price_shift\",\"platform\":\"kalshi\",\"market_id\":\"KXSIM-310\",\"old_yes\":0.34,\"new_yes\":0.35,\"change_pct\":2.94,\"timestamp\":\"2026-12-02T02:07:52.949Z\"}","received_at":"2026-12-02T02:07:52.964569406Z"}"#;
        let frame = compress(event).expect("compress");
        assert!(frame.starts_with(&MAGIC));
        assert!(
            frame.len() * 3 < event.len(),
            "{} of {} bytes",
            frame.len(),
            event.len()
        );
        assert_eq!(
            json_of(&frame).expect("decompress").as_ref(),
            event.as_slice()
        );
        // A store written before compression: plain JSON passes through.
        assert_eq!(json_of(event).expect("plain").as_ref(), event.as_slice());
    }

    #[test]
    fn damaged_frames_are_errors_not_panics_or_huge_allocations() {
        let frame = compress(b"{\"seq\":1}").expect("compress");
        for cut in 0..frame.len() {
            let _ = json_of(&frame[..cut]);
        }
        let mut flipped = frame.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xFF;
        let _ = json_of(&flipped);
        // A header that claims 2^40 bytes.
        let mut huge = MAGIC.to_vec();
        huge.extend([0xE0, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert!(json_of(&huge).is_err());
    }
}
