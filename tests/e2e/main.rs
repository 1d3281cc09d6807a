#[test]
fn probe() {
    use strategies::Platform;
    for p in [Platform::Kalshi, Platform::Polymarket] {
        for name in ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"] {
            let id = match p {
                Platform::Kalshi => format!("KXE2E-{name}"),
                Platform::Polymarket => format!("e2e-{}", name.to_lowercase()),
            };
            println!("{p}/{id} {}", shiftbot::sim::hidden_probability(42, p, &id));
        }
    }
}
