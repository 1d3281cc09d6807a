#[test]
fn sizes() {
    use std::mem::size_of;
    println!("Decimal {}", size_of::<rust_decimal::Decimal>());
    println!("Option<Decimal> {}", size_of::<Option<rust_decimal::Decimal>>());
    println!("Timestamp {}", size_of::<strategies::Timestamp>());
    println!("Option<Timestamp> {}", size_of::<Option<strategies::Timestamp>>());
    println!("Signal {}", size_of::<strategies::Signal>());
    println!("SignalReply {}", size_of::<strategies::SignalReply>());
    println!("RecordedReply {}", size_of::<shiftbot::replay::RecordedReply>());
    println!("Price {}", size_of::<strategies::Price>());
}
