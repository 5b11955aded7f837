//! RFC 9967 SCIM events as Security Event Tokens (RFC 8417): the event URIs a recorded change is
//! announced with, the claims of its SET, and the keys that sign it. The api serves poll streams
//! (RFC 8936) and the public keys; the deliverer pushes (RFC 8935). Both build SETs here.

pub mod jws;
pub mod keys;
pub mod set;
