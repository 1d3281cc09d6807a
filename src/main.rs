//! The `shiftbot` binary: everything lives in the library; see `shiftbot::cli`.
#![forbid(unsafe_code)]

fn main() {
    // Two rustls crypto providers end up in the build (reqwest's and the SSE client's), and
    // rustls refuses to pick one itself: choose ring before anything opens a TLS connection.
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::process::exit(shiftbot::cli::main());
}
