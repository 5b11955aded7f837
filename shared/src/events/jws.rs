//! JWS compact serialization (RFC 7515 §7.1) with Ed25519 (`alg: EdDSA`, RFC 8037): the
//! base64url header, the base64url payload, and the signature over both, joined by dots.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

/// `header.payload.signature` for `claims`, with the protected header `{"alg":"EdDSA","typ",
/// "kid"}`.
pub fn sign(key: &SigningKey, kid: &str, typ: &str, claims: &Value) -> String {
    let header = json!({"alg": "EdDSA", "typ": typ, "kid": kid});
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
}

/// The public half of `key` as a JWK (RFC 8037 §2).
pub fn public_jwk(key: &SigningKey, kid: &str) -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": B64.encode(key.verifying_key().to_bytes()),
        "kid": kid,
        "use": "sig",
        "alg": "EdDSA",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc8037_key() -> SigningKey {
        // RFC 8037 Appendix A.1: the private key `d`.
        let seed = B64
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .expect("b64");
        SigningKey::from_bytes(&seed.try_into().expect("32 bytes"))
    }

    #[test]
    fn the_public_jwk_is_rfc_8037s() {
        let jwk = public_jwk(&rfc8037_key(), "k1");
        assert_eq!(jwk["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
    }

    #[test]
    fn the_signature_is_rfc_8037s_known_answer() {
        // RFC 8037 Appendix A.4 signs the header `{"alg":"EdDSA"}` and the payload "Example of
        // Ed25519 signing"; Ed25519 is deterministic, so the signature must match to the byte.
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = rfc8037_key().sign(input.as_bytes());
        assert_eq!(
            B64.encode(sig.to_bytes()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn a_token_has_three_parts_and_the_header_names_the_key() {
        let token = sign(&rfc8037_key(), "k1", "secevent+jwt", &json!({"jti": "a"}));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&B64.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(
            header,
            json!({"alg": "EdDSA", "typ": "secevent+jwt", "kid": "k1"})
        );
    }
}
