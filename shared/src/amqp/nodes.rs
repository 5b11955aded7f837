//! The broker's nodes as `AMQP_URL` names them: one AMQP URI, or several separated by commas,
//! one per node of a RabbitMQ cluster:
//!
//! `amqp://scim:pw@mq-1:5672/%2f,amqp://scim:pw@mq-2:5672/%2f,amqp://scim:pw@mq-3:5672/%2f`
//!
//! Each entry is a whole URI rather than a list of hosts inside one URI (`amqp://u:p@a,b,c/vhost`
//! is no URI at all, and no AMQP client agrees on how to read it), so each node keeps its own
//! credentials, vhost and TLS query (`cacertfile`, … in [`super::tls`]), and a single URL means
//! what it always meant. A comma splits the setting only where a new URI (`scheme://`) follows
//! it, so a comma inside one URI (RFC 3986 allows it in a password or the query) stays part of
//! that URI, while a mistyped entry (`http://…`) is refused on its own instead of silently
//! becoming part of the previous node's vhost.
//!
//! [`Rotation`] picks where [`super::connect`] starts: a random node in a fresh process (so
//! replicas spread over the cluster instead of all landing on the first node), then the node
//! after the last one that answered, so that a reconnect after a failure tries another node first.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::redacted;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodesError {
    #[error("AMQP_URL is empty")]
    Empty,
    /// Shown redacted: the setting carries passwords.
    #[error("AMQP_URL node {position} ({shown}) is not an amqp:// or amqps:// URL")]
    NotAmqp { position: usize, shown: String },
}

/// The node URIs of a setting, in the order given; never empty.
#[derive(Clone, PartialEq, Eq)]
pub struct Nodes(Vec<String>);

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|u| redacted(u)))
            .finish()
    }
}

impl Nodes {
    pub fn parse(setting: &str) -> Result<Self, NodesError> {
        let mut nodes = Vec::new();
        for (i, entry) in split(setting).into_iter().enumerate() {
            let parsed = url::Url::parse(entry).ok();
            if !parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme(), "amqp" | "amqps") && u.host_str().is_some_and(|h| !h.is_empty())
            }) {
                return Err(NodesError::NotAmqp {
                    position: i + 1,
                    shown: redacted(entry),
                });
            }
            nodes.push(entry.to_owned());
        }
        if nodes.is_empty() {
            return Err(NodesError::Empty);
        }
        Ok(Self(nodes))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every node once, starting at `first` (modulo the count) and wrapping around, with its
    /// position in the setting.
    pub fn starting_at(&self, first: usize) -> impl Iterator<Item = (usize, &str)> {
        let n = self.0.len();
        (0..n).map(move |k| {
            let i = (first + k) % n;
            (i, self.0[i].as_str())
        })
    }
}

/// Splits at each comma that a new `scheme://` follows (spaces and line breaks around entries,
/// and commas at either end, are ignored, for settings written one node per line in a file).
fn split(setting: &str) -> Vec<&str> {
    let setting = setting.trim_matches(|c: char| c == ',' || c.is_whitespace());
    // RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let starts_node = |rest: &str| {
        let rest = rest.trim_start();
        rest.split_once("://").is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
    };
    let mut entries = Vec::new();
    let mut from = 0;
    for (at, _) in setting.match_indices(',') {
        if starts_node(&setting[at + 1..]) {
            entries.push(setting[from..at].trim());
            from = at + 1;
        }
    }
    entries.push(setting[from..].trim());
    entries.retain(|e| !e.is_empty());
    entries
}

/// A setting of one or several nodes with each password replaced by `***`, for anything that
/// shows it.
pub fn redacted_setting(setting: &str) -> String {
    split(setting)
        .into_iter()
        .map(redacted)
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the next connect starts. One per process: every connection of the process (publisher,
/// consumer, admin checks) moves on together, and the cursor is taken modulo the node count of
/// whichever setting is at hand.
pub struct Rotation(AtomicUsize);

impl Rotation {
    /// Starts at `first`.
    pub const fn new(first: usize) -> Self {
        Self(AtomicUsize::new(first))
    }

    /// The process-wide rotation, starting at a random node.
    pub fn global() -> &'static Rotation {
        static GLOBAL: LazyLock<Rotation> = LazyLock::new(|| Rotation::new(rand::random::<u16>().into()));
        &GLOBAL
    }

    pub fn next_start(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Node `position` answered: the next connect, which only happens once this connection has
    /// failed or closed, starts at the node after it.
    pub fn connected(&self, position: usize) {
        self.0.store(position.wrapping_add(1), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "amqp://scim:pa55@mq-1:5672/%2f";
    const B: &str = "amqps://scim:pa55@mq-2:5671/prod?cacertfile=/etc/ca.pem";
    const C: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";

    fn urls(nodes: &Nodes) -> Vec<&str> {
        nodes.starting_at(0).map(|(_, u)| u).collect()
    }

    #[test]
    fn a_single_url_is_one_node() {
        assert_eq!(urls(&Nodes::parse(A).unwrap()), [A]);
    }

    #[test]
    fn comma_separated_urls_are_nodes_in_the_given_order() {
        let nodes = Nodes::parse(&format!("{A},{B},{C}")).unwrap();
        assert_eq!(urls(&nodes), [A, B, C]);
    }

    #[test]
    fn spaces_line_breaks_and_a_trailing_comma_around_nodes_are_ignored() {
        let nodes = Nodes::parse(&format!(" {A} ,\n  {B}\n,{C},\n")).unwrap();
        assert_eq!(urls(&nodes), [A, B, C]);
    }

    #[test]
    fn a_comma_inside_a_url_stays_in_that_url() {
        let with_commas = "amqp://scim:a,b@mq-1:5672/%2f?heartbeat=10&x=1,2";
        let nodes = Nodes::parse(&format!("{with_commas},{C}")).unwrap();
        assert_eq!(urls(&nodes), [with_commas, C]);
    }

    #[test]
    fn the_scheme_of_a_following_node_is_recognised_in_any_case() {
        let upper = "AMQP://guest:guest@127.0.0.1:5673/%2f";
        assert_eq!(urls(&Nodes::parse(&format!("{A},{upper}")).unwrap()), [A, upper]);
    }

    #[test]
    fn an_empty_setting_is_refused() {
        assert_eq!(Nodes::parse(""), Err(NodesError::Empty));
        assert_eq!(Nodes::parse(" , \n"), Err(NodesError::Empty));
    }

    #[test]
    fn an_entry_that_is_not_an_amqp_url_is_refused_by_position_without_its_password() {
        let err = Nodes::parse(&format!("{A},http://scim:s3cret@mq-2/")).unwrap_err();
        assert_eq!(
            err,
            NodesError::NotAmqp {
                position: 2,
                shown: "http://scim:***@mq-2/".into()
            }
        );
        let err = Nodes::parse("postgres://scim:s3cret@db/x").unwrap_err();
        assert_eq!(
            err,
            NodesError::NotAmqp {
                position: 1,
                shown: "postgres://scim:***@db/x".into()
            }
        );
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = Nodes::parse(&format!("{A},amqp://")).unwrap_err();
        assert!(matches!(err, NodesError::NotAmqp { position: 2, .. }), "{err}");
    }

    #[test]
    fn every_node_is_tried_once_from_the_start_wrapping_around() {
        let nodes = Nodes::parse(&format!("{A},{B},{C}")).unwrap();
        let order: Vec<usize> = nodes.starting_at(4).map(|(i, _)| i).collect();
        assert_eq!(order, [1, 2, 0]);
    }

    #[test]
    fn after_a_node_answered_the_next_connect_starts_at_the_node_after_it() {
        let nodes = Nodes::parse(&format!("{A},{B},{C}")).unwrap();
        let rotation = Rotation::new(0);
        rotation.connected(2);
        let first = nodes.starting_at(rotation.next_start()).next().unwrap();
        assert_eq!(first, (0, A));
        rotation.connected(0);
        assert_eq!(nodes.starting_at(rotation.next_start()).next().unwrap(), (1, B));
    }

    #[test]
    fn a_shown_setting_hides_every_nodes_password() {
        let shown = redacted_setting(&format!("{A},{B},{C}"));
        assert!(!shown.contains("pa55"), "{shown}");
        assert_eq!(shown.matches("***").count(), 3, "{shown}");
        assert!(shown.contains("mq-2:5671/prod?cacertfile=/etc/ca.pem"), "{shown}");
        let debug = format!("{:?}", Nodes::parse(&format!("{A},{B}")).unwrap());
        assert!(!debug.contains("pa55"), "{debug}");
    }
}
