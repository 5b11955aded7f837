//! Change events (RFC 9967): every committed change of a tenant with a stream is recorded in its
//! transaction (`log`), numbered per tenant after commit (`sequencer`), and read as signed SETs
//! by poll streams (`poll`, RFC 8936) and push deliverers (RFC 8935). Streams are managed
//! through `/admin/api` (`streams`); the public keys are at `/.well-known/jwks.json` (`jwks`).

pub mod jwks;
pub mod poll;
pub mod sequencer;
pub mod settings;

pub use shared::events::log::Recorded;
pub use shared::events::{endpoint, log, pending, streams};
