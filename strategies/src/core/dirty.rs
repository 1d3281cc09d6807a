//! The markets whose positions the exits must look at next (see "When exits run" in the
//! core's docs).

use crate::types::{MarketKey, Side};

/// A small set of markets that keeps its keys' buffers between events. Nearly every event
/// marks its one market and the exits clear it moments later; kept buffers make that a copy
/// of the market's id instead of a key allocated and freed per event, a measurable share of a
/// replay's time.
#[derive(Clone, Debug, Default)]
pub(super) struct DirtyMarkets {
    /// `slots[..len]` are the members in the order marked, the rest spare buffers. Each is
    /// kept as the book key its positions start at, `(market, YES)` (sides sort YES first),
    /// so the exits can look a market's positions up without building a key.
    slots: Vec<(MarketKey, Side)>,
    len: usize,
}

impl DirtyMarkets {
    /// Add `market` unless it is already a member.
    pub fn mark(&mut self, market: &MarketKey) {
        if self.members().any(|member| member.0 == *market) {
            return;
        }
        match self.slots.get_mut(self.len) {
            Some((slot, _)) => {
                slot.platform = market.platform;
                slot.market_id.clone_from(&market.market_id);
            }
            None => self.slots.push((market.clone(), Side::Yes)),
        }
        self.len += 1;
    }

    /// The members as `(market, YES)`, in the order marked.
    pub fn members(&self) -> impl Iterator<Item = &(MarketKey, Side)> {
        self.slots[..self.len].iter()
    }

    /// Empty the set, keeping the buffers.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::types::Platform;

    proptest! {
        /// Marks and clears in any order: the members are always the distinct markets
        /// marked since the last clear, in first-marked order, whatever the spare buffers
        /// held before.
        #[test]
        fn prop_dirty_markets_hold_what_was_marked_since_the_last_clear(
            steps in prop::collection::vec(prop::option::of(0usize..6), 0..60)
        ) {
            let ids = ["A", "B", "LONGER-MARKET-ID", "C", "", "B2"];
            let key = |i: usize| MarketKey {
                platform: if i.is_multiple_of(2) { Platform::Kalshi } else { Platform::Polymarket },
                market_id: ids[i].to_string(),
            };
            let mut set = DirtyMarkets::default();
            let mut model: Vec<MarketKey> = Vec::new();
            for step in steps {
                match step {
                    Some(i) => {
                        set.mark(&key(i));
                        if !model.contains(&key(i)) {
                            model.push(key(i));
                        }
                    }
                    None => {
                        set.clear();
                        model.clear();
                    }
                }
                let members: Vec<MarketKey> = set.members().map(|m| m.0.clone()).collect();
                prop_assert_eq!(&members, &model);
                prop_assert!(set.members().all(|m| m.1 == Side::Yes));
            }
        }
    }
}
