//! RFC 9967 SCIM events as Security Event Tokens (RFC 8417): the event rows (`log`), the
//! streams and where each stands (`streams`, `pending`), which push endpoints are allowed
//! (`endpoint`), the event URIs and claims of a SET (`set`), and the keys that sign it (`keys`,
//! `jws`). The api records, numbers and serves poll streams (RFC 8936); the deliverer
//! (`scim-worker deliver`) pushes (RFC 8935). Both build SETs here. Asynchronous requests
//! (`completions`) are opened by the api and settled by the workers.

pub mod completions;
pub mod endpoint;
pub mod jws;
pub mod keys;
pub mod log;
pub mod pending;
pub mod set;
pub mod streams;
