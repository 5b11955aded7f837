//! What a recorded change becomes on a stream: its event URIs (RFC 9967 §2.4), whether the
//! stream's filter takes it, and the claims of its SET.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::entity::scim_event::Model as Event;

pub const PREFIX: &str = "urn:ietf:params:scim:event:";

/// The schema of a PatchOp, the `data` of group updates.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every event URI this server sends; a stream's filter may name only these.
pub const URIS: [&str; 12] = [
    "urn:ietf:params:scim:event:prov:create:full",
    "urn:ietf:params:scim:event:prov:create:notice",
    "urn:ietf:params:scim:event:prov:put:full",
    "urn:ietf:params:scim:event:prov:put:notice",
    "urn:ietf:params:scim:event:prov:patch:full",
    "urn:ietf:params:scim:event:prov:patch:notice",
    "urn:ietf:params:scim:event:prov:delete",
    "urn:ietf:params:scim:event:prov:activate",
    "urn:ietf:params:scim:event:prov:deactivate",
    GUARD_HELD,
    GUARD_APPROVED,
    GUARD_REJECTED,
];

/// The deprovisioning guard's own events (not RFC 9967's: the directory's SETs say what the IdP
/// did; these say what the product does about it). About one user each, `sub_id` as usual:
/// its deactivation or delete is held for a decision...
const GUARD_PREFIX: &str = "urn:scim-relay:params:event:deprovisioning:";
pub const GUARD_HELD: &str = "urn:scim-relay:params:event:deprovisioning:held";
/// ... was approved and is on its way to the product...
pub const GUARD_APPROVED: &str = "urn:scim-relay:params:event:deprovisioning:approved";
/// ... or was rejected: the product keeps the user until the IdP changes it again.
pub const GUARD_REJECTED: &str = "urn:scim-relay:params:event:deprovisioning:rejected";

/// A stream's payload form: the resource (`full`, `data`) or the changed attribute paths
/// (`notice`, `attributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    Full,
    Notice,
}

impl Payload {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "notice" => Some(Self::Notice),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Notice => "notice",
        }
    }
}

/// The event URIs of a change, in the stream's payload form: the provisioning event of its
/// method, and `prov:activate`/`prov:deactivate` beside it when `active` flipped (one change,
/// one SET, one `txn`; RFC 9967 §2.1 lets a SET carry several aspects of one state change).
pub fn uris(ev: &Event, payload: Payload) -> Vec<String> {
    let form = payload.as_str();
    let mut out = vec![match ev.method.as_str() {
        "HOLD" => return vec![GUARD_HELD.to_owned()],
        "APPROVE" => return vec![GUARD_APPROVED.to_owned()],
        "REJECT" => return vec![GUARD_REJECTED.to_owned()],
        "POST" => format!("{PREFIX}prov:create:{form}"),
        "PUT" => format!("{PREFIX}prov:put:{form}"),
        "PATCH" => format!("{PREFIX}prov:patch:{form}"),
        _ => format!("{PREFIX}prov:delete"),
    }];
    match ev.activation {
        Some(true) => out.push(format!("{PREFIX}prov:activate")),
        Some(false) => out.push(format!("{PREFIX}prov:deactivate")),
        None => {}
    }
    out
}

/// Whether a stream that asked for `filter` (none: everything) takes a SET with these URIs.
/// A filter names the event, in either payload form: `prov:patch:full` also takes the notice
/// form, since the stream's `payload` decides which form it gets.
pub fn wanted(filter: Option<&[String]>, uris: &[String]) -> bool {
    let Some(filter) = filter else { return true };
    let stem = |u: &str| {
        u.strip_suffix(":full")
            .or_else(|| u.strip_suffix(":notice"))
            .unwrap_or(u)
            .to_owned()
    };
    uris.iter().any(|u| filter.iter().any(|f| stem(f) == stem(u)))
}

/// A SET's `jti`: unique per (stream, change) and the same on every re-send, so a receiver can
/// drop repeats by it.
pub fn jti(stream: Uuid, sequence: i64) -> Uuid {
    Uuid::new_v5(&stream, sequence.to_string().as_bytes())
}

/// Who a SET is from and for.
pub struct Envelope<'a> {
    pub stream: Uuid,
    pub payload: Payload,
    /// `iss`: the SCIM base URL.
    pub issuer: &'a str,
    /// `aud`: the stream's URL.
    pub audience: &'a str,
}

/// The claims of the SET announcing `ev` (which must be sequenced) on a stream. `sequence` is
/// this server's own claim: the change's place in the tenant's gapless sequence.
pub fn claims(ev: &Event, env: &Envelope<'_>, iat: i64) -> Value {
    let sequence = ev.sequence.unwrap_or_default();
    let mut events = Map::new();
    for uri in uris(ev, env.payload) {
        let body = if uri.starts_with(GUARD_PREFIX) {
            // What the held change does: its row's `attributes` carry `deactivate` or `delete`.
            json!({"kind": ev.attributes.first()})
        } else if uri.ends_with(":full") {
            json!({"data": ev.data.clone().unwrap_or(Value::Null), "version": ev.version})
        } else if uri.ends_with(":notice") {
            json!({"attributes": ev.attributes, "version": ev.version})
        } else {
            json!({})
        };
        events.insert(uri, body);
    }
    let mut sub_id = json!({
        "format": "scim",
        "uri": format!("/{}s/{}", ev.resource_type, ev.resource_id),
    });
    if let Some(x) = &ev.external_id {
        sub_id["externalId"] = json!(x);
    }
    json!({
        "iss": env.issuer,
        "aud": [env.audience],
        "iat": iat,
        "jti": jti(env.stream, sequence).simple().to_string(),
        "txn": ev.txn.simple().to_string(),
        "sequence": sequence,
        "sub_id": sub_id,
        "events": events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, activation: Option<bool>) -> Event {
        Event {
            id: 1,
            tenant_id: Uuid::nil(),
            sequence: Some(7),
            txn: Uuid::nil(),
            resource_type: "User".into(),
            resource_id: Uuid::nil(),
            external_id: Some("00u1".into()),
            method: method.into(),
            activation,
            attributes: vec!["active".into()],
            data: Some(json!({"userName": "ada"})),
            version: Some("W/\"2\"".into()),
            created_at: chrono::Utc::now().into(),
            sequenced_at: None,
        }
    }

    #[test]
    fn a_deactivating_patch_is_one_set_with_both_events() {
        let got = uris(&event("PATCH", Some(false)), Payload::Full);
        assert_eq!(
            got,
            [
                "urn:ietf:params:scim:event:prov:patch:full",
                "urn:ietf:params:scim:event:prov:deactivate"
            ]
        );
        assert_eq!(
            uris(&event("DELETE", None), Payload::Notice),
            ["urn:ietf:params:scim:event:prov:delete"]
        );
    }

    #[test]
    fn filters_name_events_in_either_form() {
        let u = uris(&event("PATCH", Some(false)), Payload::Notice);
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wanted(None, &u));
        assert!(wanted(
            Some(&f(&["urn:ietf:params:scim:event:prov:patch:full"])),
            &u
        ));
        assert!(wanted(
            Some(&f(&["urn:ietf:params:scim:event:prov:deactivate"])),
            &u
        ));
        assert!(!wanted(
            Some(&f(&["urn:ietf:params:scim:event:prov:create:full"])),
            &u
        ));
    }

    #[test]
    fn claims_carry_subject_transaction_sequence_and_payload() {
        let stream = Uuid::now_v7();
        let env = Envelope {
            stream,
            payload: Payload::Notice,
            issuer: "https://scim.example/scim/v2",
            audience: "https://scim.example/events/streams/x",
        };
        let c = claims(&event("PATCH", None), &env, 1_700_000_000);
        assert_eq!(
            c["sub_id"],
            json!({"format": "scim", "uri": "/Users/00000000-0000-0000-0000-000000000000", "externalId": "00u1"})
        );
        assert_eq!(c["sequence"], 7);
        assert_eq!(c["aud"], json!(["https://scim.example/events/streams/x"]));
        assert_eq!(
            c["events"]["urn:ietf:params:scim:event:prov:patch:notice"],
            json!({"attributes": ["active"], "version": "W/\"2\""})
        );
        assert_eq!(c["jti"], jti(stream, 7).simple().to_string());
        assert_ne!(jti(stream, 7), jti(stream, 8));
        assert_ne!(jti(stream, 7), jti(Uuid::now_v7(), 7));
    }
}
