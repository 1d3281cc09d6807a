//! How record values are written: JSON (decimals as strings), compressed by LZ4 against a
//! dictionary built into the binary ([`DICTIONARY`], typical records), one block per record:
//! events, decisions, trades, positions, market states, totals, counters and the signal
//! budget (the small, rare values — cursor, pauses, outboxes — stay plain JSON).
//!
//! Why: the raw event and the decision are almost all of a store (about 650 of its 680 record
//! bytes per decision, `shiftbot store stats`), a market state and the counters are rewritten
//! with every commit, and most of each is field names and the same few strings. Plain
//! compression gains little on a 300-byte record; against a dictionary of records like it, it
//! gains two thirds.
//!
//! Why LZ4 and not zstd (already a dependency, for the archive): measured per record on this
//! machine, zstd with a dictionary costs ~2.5–3 µs a call whatever the level (its frame set-up),
//! which made a screened burst (three records per event) 18 % slower; `lz4_flex` against a
//! 1.5 KB dictionary costs ~1 µs and stores a 338-byte event in ~100 bytes (zstd: ~90).
//!
//! Layout: `0x01`, the JSON's length (u32 LE), the LZ4 block. Every reader decodes both forms:
//! a stored value that starts with `{` is JSON (stores written before this), one that starts
//! with `0x01` is a block. The dictionary can never change: records written with it must stay
//! readable; a new one would need its own marker.

/// Typical records, as the LZ4 dictionary. Never edit: see the module docs.
pub(crate) const DICTIONARY: &[u8] = include_bytes!("dictionary.ndjson");

const MARKER: u8 = 0x01;

/// Largest value a block may claim to hold (an event is at most `feed.max_event_bytes`,
/// 64 MiB, plus its record): a damaged header must not make us allocate more.
const MAX_RECORD: usize = 80 * 1024 * 1024;

/// Why a stored block cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("a record over 4 GiB")]
    TooLarge,
    #[error("a compressed record cut short")]
    CutShort,
    #[error("a compressed record claiming {0} bytes")]
    Claims(usize),
    #[error("a compressed record does not decompress: {0}")]
    Decompress(#[source] lz4_flex::block::DecompressError),
    #[error("a compressed record decompresses to {got} bytes, not the {claimed} it claims")]
    Length { got: usize, claimed: usize },
}

/// Compress one record's JSON.
pub(crate) fn compress(json: &[u8]) -> Result<Vec<u8>, CodecError> {
    let length = u32::try_from(json.len()).map_err(|_| CodecError::TooLarge)?;
    let mut out = Vec::with_capacity(5 + lz4_flex::block::get_maximum_output_size(json.len()));
    out.push(MARKER);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress_with_dict(json, DICTIONARY));
    Ok(out)
}

/// The JSON of a stored value: itself, or its decompressed block.
pub(crate) fn json_of(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CodecError> {
    let Some((&MARKER, rest)) = bytes.split_first() else {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    };
    let (length, block) = rest.split_first_chunk::<4>().ok_or(CodecError::CutShort)?;
    let length = u32::from_le_bytes(*length) as usize;
    if length > MAX_RECORD {
        return Err(CodecError::Claims(length));
    }
    let json = lz4_flex::block::decompress_with_dict(block, length, DICTIONARY)
        .map_err(CodecError::Decompress)?;
    if json.len() != length {
        return Err(CodecError::Length {
            got: json.len(),
            claimed: length,
        });
    }
    Ok(std::borrow::Cow::Owned(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_shrink_and_plain_json_still_reads() {
        let event = br#"{"seq":48213,"id":"48213","server_id":"48213","event_type":"price_shift","sse_event":null,"data":"{\"type\":\"price_shift\",\"platform\":\"kalshi\",\"market_id\":\"KXSIM-310\",\"old_yes\":0.34,\"new_yes\":0.35,\"change_pct\":2.94,\"timestamp\":\"2026-12-02T02:07:52.949Z\"}","received_at":"2026-12-02T02:07:52.964569406Z"}"#;
        let block = compress(event).expect("compress");
        assert_eq!(block[0], MARKER);
        assert!(
            block.len() * 3 < event.len(),
            "{} of {} bytes",
            block.len(),
            event.len()
        );
        assert_eq!(
            json_of(&block).expect("decompress").as_ref(),
            event.as_slice()
        );
        // A store written before compression: plain JSON passes through.
        assert_eq!(json_of(event).expect("plain").as_ref(), event.as_slice());
        assert_eq!(json_of(b"").expect("empty").as_ref(), b"");
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics_or_huge_allocations() {
        let block = compress(br#"{"seq":1,"event_seq":1,"decision":{}}"#).expect("compress");
        for cut in 1..block.len() {
            assert!(
                json_of(&block[..cut]).is_err(),
                "cut at {cut} of {}",
                block.len()
            );
        }
        for i in 1..block.len() {
            let mut flipped = block.clone();
            flipped[i] ^= 0xFF;
            let _ = json_of(&flipped);
        }
        let mut huge = vec![MARKER];
        huge.extend(u32::MAX.to_le_bytes());
        huge.extend([0u8; 8]);
        assert!(json_of(&huge).is_err());
    }
}
