//! Which identity provider sent a request, told by its `User-Agent`: the activity log names it,
//! and the few quirks that would be wrong for other clients are taken only from the IdP that
//! needs them. What each IdP sends, with sources, is in docs/idps.md.

use std::future::Future;

/// The SCIM clients scim-relay is proven against (tests/tests/idp/).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idp {
    Okta,
    Entra,
    OneLogin,
    JumpCloud,
    Ping,
    Rippling,
    SailPoint,
    Authentik,
    Keycloak,
}

/// User-Agent fragments, matched case-insensitively anywhere in the header, first match wins.
/// Where an IdP's exact header is not documented, the fragment is its name, which is what the
/// clients that do document theirs put there.
const FRAGMENTS: &[(&str, Idp)] = &[
    ("okta", Idp::Okta),
    // "Microsoft.Azure.AD.Provisioning…", "Azure Active Directory SCIM …", the SCIM Validator.
    ("microsoft", Idp::Entra),
    ("azure", Idp::Entra),
    ("onelogin", Idp::OneLogin),
    ("jumpcloud", Idp::JumpCloud),
    ("pingone", Idp::Ping),
    ("pingfederate", Idp::Ping),
    ("pingidentity", Idp::Ping),
    ("rippling", Idp::Rippling),
    ("sailpoint", Idp::SailPoint),
    ("identitynow", Idp::SailPoint),
    // `authentik@2025.2.1` (authentik/lib/utils/http.py).
    ("authentik", Idp::Authentik),
    ("keycloak", Idp::Keycloak),
];

impl Idp {
    pub fn from_user_agent(ua: &str) -> Option<Self> {
        let ua = ua.to_ascii_lowercase();
        FRAGMENTS
            .iter()
            .find(|(fragment, _)| ua.contains(fragment))
            .map(|&(_, idp)| idp)
    }

    /// The name an operator knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Idp::Okta => "Okta",
            Idp::Entra => "Microsoft Entra ID",
            Idp::OneLogin => "OneLogin",
            Idp::JumpCloud => "JumpCloud",
            Idp::Ping => "Ping Identity",
            Idp::Rippling => "Rippling",
            Idp::SailPoint => "SailPoint",
            Idp::Authentik => "authentik",
            Idp::Keycloak => "Keycloak",
        }
    }
}

tokio::task_local! {
    /// The IdP of the request being served, if its User-Agent names one.
    static CURRENT: Option<Idp>;
}

/// Runs a request's handling with `idp` as its client.
pub async fn scoped<F: Future>(idp: Option<Idp>, request: F) -> F::Output {
    CURRENT.scope(idp, request).await
}

/// The IdP of the request being served; `None` outside a request or for an unnamed client.
pub fn current() -> Option<Idp> {
    CURRENT.try_with(|idp| *idp).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_name_their_idp() {
        for (ua, idp) in [
            ("Okta SCIM Client 1.0.0", Idp::Okta),
            (
                "Microsoft.Azure.AD.Provisioning.ProvisioningAgent/1.0",
                Idp::Entra,
            ),
            ("authentik@2025.2.1", Idp::Authentik),
            ("OneLogin SCIM", Idp::OneLogin),
            ("JumpCloud-SCIM/1.0", Idp::JumpCloud),
            ("PingOne-Provisioning", Idp::Ping),
            ("SailPoint-SCIM-Connector", Idp::SailPoint),
            ("Rippling SCIM", Idp::Rippling),
            ("keycloak-scim/1.0", Idp::Keycloak),
        ] {
            assert_eq!(Idp::from_user_agent(ua), Some(idp), "{ua}");
        }
        assert_eq!(Idp::from_user_agent("curl/8.5.0"), None);
        assert_eq!(Idp::from_user_agent(""), None);
    }

    #[tokio::test]
    async fn the_current_idp_is_the_scoped_one() {
        assert_eq!(current(), None);
        let inside = scoped(Some(Idp::Authentik), async { current() }).await;
        assert_eq!(inside, Some(Idp::Authentik));
    }
}
