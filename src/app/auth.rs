//! Who is calling: member tokens (HS256 JWT), the admin token, and password hashing (argon2id).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppError;

/// The caller of a request is the viewer the read models filter for.
pub use crate::read_models::Caller as Caller;

impl Caller {
    pub fn member_id(self) -> Option<Uuid> {
        match self {
            Caller::Member(id) => Some(id),
            _ => None,
        }
    }

    pub fn is_admin(self) -> bool {
        self == Caller::Admin
    }

    /// The member acting, `None` for the admin (who is refused only after what the contract ranks
    /// above FORBIDDEN); anonymous callers are UNAUTHENTICATED.
    pub fn member_or_admin(self) -> Result<Option<Uuid>, AppError> {
        match self {
            Caller::Member(id) => Ok(Some(id)),
            Caller::Admin => Ok(None),
            Caller::Anonymous => Err(AppError::Unauthenticated("sign in first: send a bearer token".into())),
        }
    }

    /// The caller's name in idempotency scopes.
    pub fn scope(self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::Member(id) => id.to_string(),
            Caller::Admin => "admin".into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    exp: u64,
    iat: u64,
}

/// Issues and checks bearer tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    admin_token: String,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration, admin_token: String) -> Self {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl, admin_token }
    }

    pub fn issue(&self, member_id: Uuid) -> Result<String, AppError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let claims = Claims { sub: member_id, iat: now.as_secs(), exp: (now + self.ttl).as_secs() };
        jsonwebtoken::encode(&Header::default(), &claims, &self.encoding).map_err(|e| AppError::internal("could not sign a token", e))
    }

    /// Reads an `Authorization` header value. No header: anonymous; a bad one: UNAUTHENTICATED.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AppError> {
        let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Caller::Anonymous);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| AppError::Unauthenticated("the Authorization header must be `Bearer <token>`".into()))?;
        if !self.admin_token.is_empty() && constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            return Ok(Caller::Admin);
        }
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(Caller::Member(data.claims.sub)),
            Err(error) if matches!(error.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(AppError::Unauthenticated("the token has expired; sign in again".into()))
            }
            Err(_) => Err(AppError::Unauthenticated("the token is not valid; sign in again".into())),
        }
    }
}

pub(crate) fn admin_is_not_a_member() -> AppError {
    AppError::Forbidden("the admin is not a member; sign in as a member to do this".into())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id with a configurable cost (tests lower it; production keeps the defaults).
#[derive(Clone)]
pub struct Passwords {
    params: Params,
}

impl Passwords {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, AppError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| AppError::internal("bad password hashing parameters", e))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string holding algorithm, parameters, salt and hash. CPU-heavy: call off the
    /// request threads.
    pub fn hash(&self, password: &str) -> Result<String, AppError> {
        let salt = SaltString::encode_b64(Uuid::new_v4().as_bytes()).map_err(|e| AppError::internal("could not make a salt", e))?;
        let hash =
            self.argon2().hash_password(password.as_bytes(), &salt).map_err(|e| AppError::internal("could not hash a password", e))?;
        Ok(hash.to_string())
    }

    pub fn verify(&self, password: &str, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|parsed| self.argon2().verify_password(password.as_bytes(), &parsed).is_ok())
    }

    /// [`Passwords::hash`] on a blocking thread, so a request thread never spends the hash's CPU.
    pub async fn hash_off_thread(&self, password: String) -> Result<String, AppError> {
        let passwords = self.clone();
        tokio::task::spawn_blocking(move || passwords.hash(&password))
            .await
            .map_err(|e| AppError::internal("password hashing stopped", e))?
    }

    /// [`Passwords::verify`] on a blocking thread.
    pub async fn verify_off_thread(&self, password: &str, phc: &str) -> Result<bool, AppError> {
        let (passwords, password, phc) = (self.clone(), password.to_owned(), phc.to_owned());
        tokio::task::spawn_blocking(move || passwords.verify(&password, &phc))
            .await
            .map_err(|e| AppError::internal("password check stopped", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ttl: Duration) -> Tokens {
        Tokens::new(b"test secret", ttl, "admin-token".into())
    }

    #[test]
    fn a_member_token_authenticates_its_member() {
        let tokens = tokens(Duration::from_secs(60));
        let id = Uuid::new_v4();
        let token = tokens.issue(id).unwrap();
        assert_eq!(tokens.authenticate(Some(&format!("Bearer {token}"))).unwrap(), Caller::Member(id));
    }

    #[test]
    fn the_admin_token_authenticates_the_admin_and_no_header_is_anonymous() {
        let tokens = tokens(Duration::from_secs(60));
        assert_eq!(tokens.authenticate(Some("Bearer admin-token")).unwrap(), Caller::Admin);
        assert_eq!(tokens.authenticate(None).unwrap(), Caller::Anonymous);
    }

    #[test]
    fn a_forged_malformed_or_expired_token_is_unauthenticated() {
        let tokens = tokens(Duration::from_secs(60));
        let other = Tokens::new(b"another secret", Duration::from_secs(60), String::new());
        let forged = other.issue(Uuid::new_v4()).unwrap();
        for header in [format!("Bearer {forged}"), "Bearer nonsense".into(), "Basic abc".into()] {
            assert_eq!(tokens.authenticate(Some(&header)).unwrap_err().code(), "UNAUTHENTICATED");
        }
        let expired = self::tokens(Duration::ZERO).issue(Uuid::new_v4()).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(tokens.authenticate(Some(&format!("Bearer {expired}"))).unwrap_err().to_string().contains("expired"));
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let passwords = Passwords::new(64, 1).unwrap();
        let hash = passwords.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse", &hash));
        assert!(!passwords.verify("wrong horse", &hash));
    }
}
