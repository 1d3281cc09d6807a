//! The validated value types: a price is exactly a decimal strictly inside (0, 1).

use proptest::prelude::*;
use rust_decimal::Decimal;
use strategies::Price;

/// Decimals of every scale, near the bounds as often as far from them: mantissas around
/// `±10^scale` (the edges 0 and ±1 at that scale), small ones, and full 96-bit ones.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    let max = (1i128 << 96) - 1;
    (0u32..=28, any::<bool>())
        .prop_flat_map(move |(scale, negative)| {
            let one = 10i128.pow(scale);
            let mantissa = prop_oneof![
                (-3i128..=3).prop_map(move |d| one + d),
                -3i128..=3,
                -max..=max,
            ];
            (mantissa, Just(scale), Just(negative))
        })
        .prop_map(|(mantissa, scale, negative)| {
            let mantissa = mantissa.clamp(-(1i128 << 96) + 1, (1i128 << 96) - 1);
            let mantissa = if negative { -mantissa } else { mantissa };
            Decimal::try_from_i128_with_scale(mantissa, scale).expect("96-bit mantissa")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn prop_price_accepts_exactly_the_open_unit_interval(value in any_decimal()) {
        let inside = value > Decimal::ZERO && value < Decimal::ONE;
        let price = Price::new(value);
        prop_assert_eq!(price.is_ok(), inside, "{}", value);
        if let Ok(price) = price {
            prop_assert_eq!(price.get(), value);
        }
    }
}
