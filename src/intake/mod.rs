//! Intakes other than the `[feed]` stream ([`crate::feed`]): each turns requests or messages on
//! a wire into [`crate::feed::RawEvent`]s for the engine, and acknowledges them only when the
//! engine says they are durable. No field is decoded here (that is [`crate::wire`]'s), and no
//! business rule lives here.
//!
//! # Layout
//! - [`webhook`]: the signed-webhook receiver; its signature schemes in [`webhook::scheme`].

pub mod webhook;
