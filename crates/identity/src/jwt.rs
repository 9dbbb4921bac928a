//! EdDSA (Ed25519) JWT access tokens, signed and verified by hand: the algorithm is pinned,
//! keys are found by `kid`, and no header field can change how a token is checked.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature as EdSignature, Signer as _, VerifyingKey};
use rand::rngs::OsRng;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only accepted `alg`.
pub const ALG: &str = "EdDSA";
/// Largest exp leeway a [`Verifier`] accepts; more would make short-lived tokens long-lived.
pub const MAX_EXP_LEEWAY_SECS: u32 = 30;
/// Default exp leeway, covering small clock differences between instances.
pub const DEFAULT_EXP_LEEWAY_SECS: u32 = 5;
/// How far in the future `iat` may lie before a token is refused.
pub const IAT_LEEWAY_SECS: i64 = 60;
/// Longest token accepted; real access tokens are a few hundred bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

const SIG_B64_LEN: usize = 86;
const MAX_HEADER_B64_LEN: usize = 512;

/// Why a token was refused. Callers usually only distinguish `Expired` (client should
/// refresh) from `Invalid` (client must re-authenticate); the reason is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Well-formed, correctly signed, for us, but past `exp` (plus leeway).
    #[error("token expired")]
    Expired,
    /// Anything else: see the reason.
    #[error("invalid token: {0}")]
    Invalid(InvalidReason),
}

/// Detail of [`JwtError::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// Not three base64url parts, too long, or undecodable.
    #[error("malformed")]
    Malformed,
    /// `alg` is not `EdDSA`.
    #[error("algorithm not allowed")]
    Algorithm,
    /// Unsupported header content (`typ` other than JWT, any `crit`, duplicate fields).
    #[error("unsupported header")]
    Header,
    /// `kid` missing or not a known key.
    #[error("unknown key")]
    UnknownKey,
    /// Signature does not verify.
    #[error("bad signature")]
    Signature,
    /// Payload is not a valid claims object.
    #[error("bad claims")]
    Claims,
    /// `iss` is not the expected issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` is not the expected audience.
    #[error("wrong audience")]
    Audience,
    /// `iat` lies more than [`IAT_LEEWAY_SECS`] in the future.
    #[error("issued in the future")]
    IssuedInFuture,
    /// A JWK is not a public Ed25519 key (or carries a private part).
    #[error("bad jwk")]
    Jwk,
}

impl From<InvalidReason> for JwtError {
    fn from(r: InvalidReason) -> Self {
        Self::Invalid(r)
    }
}

/// Claims of an access token. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience (a single string; arrays are not issued or accepted).
    pub aud: String,
    /// Subject: the user id.
    pub sub: String,
    /// Session id, so a revoked session can reject its access tokens.
    pub sid: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Space-separated scopes, when the token is narrower than the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An Ed25519 signing key with its `kid`. `Debug` is redacted.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
    // The header only depends on the kid, so it is encoded once.
    header_b64: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(kid: impl Into<String>) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(kid, bytes)
    }

    /// A key from its 32-byte seed (as returned by [`SigningKey::secret_bytes`]).
    pub fn from_bytes(kid: impl Into<String>, bytes: [u8; 32]) -> Self {
        let kid = kid.into();
        let header = format!(
            r#"{{"alg":"{ALG}","typ":"JWT","kid":{}}}"#,
            Value::String(kid.clone())
        );
        Self {
            header_b64: URL_SAFE_NO_PAD.encode(header),
            key: ed25519_dalek::SigningKey::from_bytes(&bytes),
            kid,
        }
    }

    /// The 32-byte seed, for storing the key (encrypted, e.g. with `crypto::KeyRing`).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key id put in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// RFC 8037 public JWK: `kty`, `crv`, `x`, `kid`, `alg`, `use`. Never contains `d`.
    pub fn public_jwk(&self) -> Value {
        public_jwk(&self.kid, &self.verifying_key())
    }
}

/// RFC 8037 public JWK for a verifying key.
pub fn public_jwk(kid: &str, key: &VerifyingKey) -> Value {
    let mut m = Map::new();
    m.insert("kty".into(), "OKP".into());
    m.insert("crv".into(), "Ed25519".into());
    m.insert("x".into(), URL_SAFE_NO_PAD.encode(key.as_bytes()).into());
    m.insert("kid".into(), kid.into());
    m.insert("alg".into(), ALG.into());
    m.insert("use".into(), "sig".into());
    Value::Object(m)
}

/// Reads a public Ed25519 JWK (as published in a JWKS) into `(kid, key)`. Refuses JWKs
/// with a private part `d`: publishing one is a leak, not something to silently accept.
pub fn verifying_key_from_jwk(jwk: &Value) -> Result<(String, VerifyingKey), JwtError> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let alg_ok = match jwk.get("alg") {
        None => true,
        Some(alg) => alg.as_str() == Some(ALG),
    };
    let well_formed = alg_ok
        && field("kty") == Some("OKP")
        && field("crv") == Some("Ed25519")
        && jwk.get("d").is_none();
    if !well_formed {
        return Err(InvalidReason::Jwk.into());
    }
    let kid = field("kid").ok_or(InvalidReason::Jwk)?;
    let mut x = [0u8; 33];
    let n = URL_SAFE_NO_PAD
        .decode_slice(field("x").ok_or(InvalidReason::Jwk)?, &mut x)
        .map_err(|_| InvalidReason::Jwk)?;
    let x: &[u8; 32] = x
        .get(..n)
        .and_then(|s| s.try_into().ok())
        .ok_or(InvalidReason::Jwk)?;
    let key = VerifyingKey::from_bytes(x).map_err(|_| InvalidReason::Jwk)?;
    Ok((kid.to_owned(), key))
}

/// Signs claims into a compact JWT `header.payload.signature`.
pub fn sign(key: &SigningKey, claims: &AccessClaims) -> String {
    // Written by hand rather than through serde so signing cannot fail: every value is a
    // string (escaped by serde_json's Display) or an integer.
    let s = |v: &str| Value::String(v.to_owned());
    let mut payload = format!(
        r#"{{"iss":{},"aud":{},"sub":{},"sid":{},"exp":{},"iat":{},"jti":{}"#,
        s(&claims.iss),
        s(&claims.aud),
        s(&claims.sub),
        s(&claims.sid),
        claims.exp,
        claims.iat,
        s(&claims.jti),
    );
    if let Some(scope) = &claims.scope {
        payload.push_str(r#","scope":"#);
        payload.push_str(&s(scope).to_string());
    }
    payload.push('}');

    let mut token = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 92);
    token.push_str(&key.header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = key.key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    token
}

#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Verifies access tokens against a set of public keys by `kid`.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: HashMap<String, VerifyingKey>,
    exp_leeway_secs: i64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// An empty verifier with [`DEFAULT_EXP_LEEWAY_SECS`].
    pub fn new() -> Self {
        Self {
            keys: HashMap::new(),
            exp_leeway_secs: i64::from(DEFAULT_EXP_LEEWAY_SECS),
        }
    }

    /// Sets the exp leeway, capped at [`MAX_EXP_LEEWAY_SECS`].
    pub fn with_exp_leeway(mut self, secs: u32) -> Self {
        self.exp_leeway_secs = i64::from(secs.min(MAX_EXP_LEEWAY_SECS));
        self
    }

    /// Adds or replaces a key.
    pub fn insert(&mut self, kid: impl Into<String>, key: VerifyingKey) {
        self.keys.insert(kid.into(), key);
    }

    /// Removes a key (rotation: once no unexpired token can carry it).
    pub fn remove(&mut self, kid: &str) -> Option<VerifyingKey> {
        self.keys.remove(kid)
    }

    /// Number of known keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a token and returns its claims.
    ///
    /// The signature is checked (with `verify_strict`, which rejects malleable and
    /// small-order encodings) before the payload is parsed, so unauthenticated JSON is never
    /// deserialized. Header and signature decode into stack buffers.
    pub fn verify(
        &self,
        token: &str,
        now_unix: i64,
        expected_iss: &str,
        expected_aud: &str,
    ) -> Result<AccessClaims, JwtError> {
        use InvalidReason as R;
        if token.len() > MAX_TOKEN_LEN {
            return Err(R::Malformed.into());
        }
        let mut parts = token.splitn(3, '.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(R::Malformed.into());
        };

        if header_b64.len() > MAX_HEADER_B64_LEN {
            return Err(R::Malformed.into());
        }
        let mut header_buf = [0u8; MAX_HEADER_B64_LEN * 3 / 4 + 3];
        let n = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut header_buf)
            .map_err(|_| R::Malformed)?;
        let header_json = header_buf.get(..n).ok_or(R::Malformed)?;
        let header: JoseHeader<'_> = serde_json::from_slice(header_json).map_err(|_| R::Header)?;
        if header.alg != ALG {
            return Err(R::Algorithm.into());
        }
        if header.typ.as_ref().is_some_and(|t| t != "JWT") || header.crit.is_some() {
            return Err(R::Header.into());
        }
        let key = header
            .kid
            .as_ref()
            .and_then(|kid| self.keys.get(kid.as_ref()))
            .ok_or(R::UnknownKey)?;

        // A fixed length also rules out a trailing '.' part smuggled into the signature.
        if sig_b64.len() != SIG_B64_LEN {
            return Err(R::Malformed.into());
        }
        let mut sig = [0u8; 66];
        let n = URL_SAFE_NO_PAD
            .decode_slice(sig_b64, &mut sig)
            .map_err(|_| R::Malformed)?;
        let sig: &[u8; 64] = sig
            .get(..n)
            .and_then(|s| s.try_into().ok())
            .ok_or(R::Malformed)?;
        let signing_input = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(R::Malformed)?;
        key.verify_strict(signing_input.as_bytes(), &EdSignature::from_bytes(sig))
            .map_err(|_| R::Signature)?;

        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| R::Malformed)?;
        let claims: AccessClaims = serde_json::from_slice(&payload).map_err(|_| R::Claims)?;
        if claims.iss != expected_iss {
            return Err(R::Issuer.into());
        }
        if claims.aud != expected_aud {
            return Err(R::Audience.into());
        }
        if claims.iat > now_unix.saturating_add(IAT_LEEWAY_SECS) {
            return Err(R::IssuedInFuture.into());
        }
        if now_unix >= claims.exp.saturating_add(self.exp_leeway_secs) {
            return Err(JwtError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use InvalidReason::*;

    const ISS: &str = "https://rampart.example";
    const AUD: &str = "rampart-api";
    const NOW: i64 = 1_700_000_000;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "user-1".into(),
            sid: "sess-1".into(),
            exp: NOW + 600,
            iat: NOW,
            jti: "jti-1".into(),
            scope: Some("read write".into()),
        }
    }

    fn setup() -> (SigningKey, Verifier) {
        let key = SigningKey::generate("k1");
        let mut v = Verifier::new().with_exp_leeway(0);
        v.insert("k1", key.verifying_key());
        (key, v)
    }

    /// Builds a token with an arbitrary header/payload, signed with `key`.
    fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = key.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn invalid(r: Result<AccessClaims, JwtError>) -> InvalidReason {
        match r {
            Err(JwtError::Invalid(reason)) => reason,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn roundtrip() {
        let (key, v) = setup();
        let c = claims();
        let token = sign(&key, &c);
        assert_eq!(v.verify(&token, NOW, ISS, AUD).unwrap(), c);

        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"})
        );

        let no_scope = AccessClaims {
            scope: None,
            sub: "quote\"and\\slash\u{1}".into(),
            ..claims()
        };
        assert_eq!(
            v.verify(&sign(&key, &no_scope), NOW, ISS, AUD).unwrap(),
            no_scope
        );
    }

    #[test]
    fn sign_matches_serde_encoding() {
        let (key, _) = setup();
        let token = sign(&key, &claims());
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let parsed: AccessClaims = serde_json::from_slice(&payload).unwrap();
        assert_eq!(parsed, claims());
    }

    #[test]
    fn restored_key_verifies() {
        let (key, v) = setup();
        let restored = SigningKey::from_bytes("k1", key.secret_bytes());
        let token = sign(&restored, &claims());
        assert!(v.verify(&token, NOW, ISS, AUD).is_ok());
    }

    #[test]
    fn expired() {
        let (key, v) = setup();
        let token = sign(&key, &claims());
        let exp = claims().exp;
        assert!(v.verify(&token, exp - 1, ISS, AUD).is_ok());
        assert_eq!(v.verify(&token, exp, ISS, AUD), Err(JwtError::Expired));
        let lenient = v.clone().with_exp_leeway(10);
        assert!(lenient.verify(&token, exp + 9, ISS, AUD).is_ok());
        assert_eq!(
            lenient.verify(&token, exp + 10, ISS, AUD),
            Err(JwtError::Expired)
        );
        let capped = v.with_exp_leeway(3600);
        assert_eq!(
            capped.verify(&token, exp + 31, ISS, AUD),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn tampered_payload() {
        let (key, v) = setup();
        let token = sign(&key, &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let evil = AccessClaims {
            sub: "admin".into(),
            ..claims()
        };
        let evil_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap());
        let forged = format!("{}.{}.{}", parts[0], evil_payload, parts[2]);
        assert_eq!(invalid(v.verify(&forged, NOW, ISS, AUD)), Signature);
    }

    #[test]
    fn tampered_signature() {
        let (key, v) = setup();
        let token = sign(&key, &claims());
        let dot = token.rfind('.').unwrap();
        let mut bytes = token.into_bytes();
        bytes[dot + 1] = if bytes[dot + 1] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(bytes).unwrap();
        assert_eq!(invalid(v.verify(&t, NOW, ISS, AUD)), Signature);
        let truncated = &t[..t.len() - 1];
        assert_eq!(invalid(v.verify(truncated, NOW, ISS, AUD)), Malformed);
    }

    #[test]
    fn algorithm_is_pinned() {
        let (key, v) = setup();
        let payload = serde_json::to_string(&claims()).unwrap();
        // Correctly signed with the Ed25519 key, but the header lies about the algorithm.
        for alg in ["none", "HS256", "RS256", "ES256", "eddsa"] {
            let h = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#);
            let t = forge(&key, &h, &payload);
            assert_eq!(invalid(v.verify(&t, NOW, ISS, AUD)), Algorithm, "{alg}");
        }
        // Classic alg=none: empty signature.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(&payload)
        );
        assert!(matches!(
            v.verify(&none, NOW, ISS, AUD),
            Err(JwtError::Invalid(_))
        ));
        // Duplicate alg fields must not let a parser pick the friendly one.
        let dup = forge(&key, r#"{"alg":"EdDSA","alg":"none","kid":"k1"}"#, &payload);
        assert!(matches!(
            v.verify(&dup, NOW, ISS, AUD),
            Err(JwtError::Invalid(_))
        ));
    }

    #[test]
    fn unsupported_headers() {
        let (key, v) = setup();
        let payload = serde_json::to_string(&claims()).unwrap();
        let crit = forge(
            &key,
            r#"{"alg":"EdDSA","kid":"k1","crit":["exp"]}"#,
            &payload,
        );
        assert_eq!(invalid(v.verify(&crit, NOW, ISS, AUD)), Header);
        let typ = forge(&key, r#"{"alg":"EdDSA","kid":"k1","typ":"JWE"}"#, &payload);
        assert_eq!(invalid(v.verify(&typ, NOW, ISS, AUD)), Header);
        // typ is optional; escaped strings in the header still parse.
        let ok = forge(&key, r#"{"alg":"Ed\u0044SA","kid":"k1"}"#, &payload);
        assert!(v.verify(&ok, NOW, ISS, AUD).is_ok());
    }

    #[test]
    fn unknown_or_missing_kid() {
        let (_, v) = setup();
        let other = SigningKey::generate("k2");
        let token = sign(&other, &claims());
        assert_eq!(invalid(v.verify(&token, NOW, ISS, AUD)), UnknownKey);
        let payload = serde_json::to_string(&claims()).unwrap();
        let no_kid = forge(&other, r#"{"alg":"EdDSA"}"#, &payload);
        assert_eq!(invalid(v.verify(&no_kid, NOW, ISS, AUD)), UnknownKey);
        // Right kid, wrong key.
        let impostor = SigningKey::generate("k1");
        let t = sign(&impostor, &claims());
        assert_eq!(invalid(v.verify(&t, NOW, ISS, AUD)), Signature);
    }

    #[test]
    fn rotation() {
        let (old, mut v) = setup();
        let new = SigningKey::generate("k2");
        v.insert(new.kid(), new.verifying_key());
        assert!(v.verify(&sign(&old, &claims()), NOW, ISS, AUD).is_ok());
        assert!(v.verify(&sign(&new, &claims()), NOW, ISS, AUD).is_ok());
        v.remove("k1");
        assert_eq!(
            invalid(v.verify(&sign(&old, &claims()), NOW, ISS, AUD)),
            UnknownKey
        );
    }

    #[test]
    fn wrong_iss_aud() {
        let (key, v) = setup();
        let token = sign(&key, &claims());
        assert_eq!(invalid(v.verify(&token, NOW, "https://evil", AUD)), Issuer);
        assert_eq!(invalid(v.verify(&token, NOW, ISS, "other-api")), Audience);
    }

    #[test]
    fn iat_in_future() {
        let (key, v) = setup();
        let token = sign(&key, &claims());
        assert!(v.verify(&token, NOW - 60, ISS, AUD).is_ok());
        assert_eq!(
            invalid(v.verify(&token, NOW - 61, ISS, AUD)),
            IssuedInFuture
        );
    }

    #[test]
    fn garbage() {
        let (key, v) = setup();
        let token = sign(&key, &claims());
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c",
            "..",
            &format!("{token}.extra"),
            &format!("{token}="),
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(
                matches!(v.verify(t, NOW, ISS, AUD), Err(JwtError::Invalid(_))),
                "{t}"
            );
        }
        let payload = "not json";
        let t = forge(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, payload);
        assert_eq!(invalid(v.verify(&t, NOW, ISS, AUD)), Claims);
        let t = forge(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, r#"{"sub":"x"}"#);
        assert_eq!(invalid(v.verify(&t, NOW, ISS, AUD)), Claims);
    }

    #[test]
    fn jwk_is_public_only() {
        let (key, _) = setup();
        let jwk = key.public_jwk();
        let obj = jwk.as_object().unwrap();
        assert!(!obj.contains_key("d"));
        let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "k1");
        let secret_b64 = URL_SAFE_NO_PAD.encode(key.secret_bytes());
        assert!(!jwk.to_string().contains(&secret_b64));

        let (kid, vk) = verifying_key_from_jwk(&jwk).unwrap();
        assert_eq!(kid, "k1");
        assert_eq!(vk, key.verifying_key());

        let mut with_d = jwk.clone();
        with_d["d"] = secret_b64.into();
        assert_eq!(verifying_key_from_jwk(&with_d), Err(JwtError::Invalid(Jwk)));
    }

    #[test]
    fn debug_is_redacted() {
        let (key, _) = setup();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("k1") && dbg.contains("<redacted>"));
        assert!(!dbg.contains(&hex::encode(key.secret_bytes())));
    }
}
