//! Members' use cases: registering (claiming the address, storing the credential, recording the
//! member), signing in, and editing one's profile.

use serde::Serialize;
use uuid::Uuid;

use super::dispatch::Committed;
use super::{now, App, AppError, Caller, Credential};
use crate::domain::email_claim::{ClaimEmail, EmailClaim};
use crate::domain::member::{Member, RegisterMember, UpdateProfile};
use crate::domain::values;

const EMAIL_CLAIMS: Uuid = Uuid::from_u128(0x6b6f_6e6e_656b_7469_6400_0000_0000_0002);

/// The stream that holds the claim on a normalized e-mail address.
pub fn email_claim_id(normalized_email: &str) -> Uuid {
    Uuid::new_v5(&EMAIL_CLAIMS, normalized_email.as_bytes())
}

#[derive(Debug, Clone, Serialize)]
pub struct NewMember {
    pub email: String,
    pub display_name: String,
    #[serde(skip)]
    pub password: String,
    pub city: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileChanges {
    pub display_name: Option<String>,
    /// `Some(None)` clears the city.
    pub city: Option<Option<String>>,
    pub expected_version: Option<actors::Version>,
}

impl App {
    /// Registers a member: claims the address, stores the credential, records the member.
    pub async fn register_member(&self, input: NewMember, key: Option<&str>) -> Result<(String, Committed), AppError> {
        let email = values::normalize_email(&input.email).map_err(AppError::bad_input)?;
        values::validate_password(&input.password).map_err(AppError::bad_input)?;
        let display_name = values::normalize_display_name(&input.display_name).map_err(AppError::bad_input)?;
        let city = values::normalize_city(input.city.as_deref()).map_err(AppError::bad_input)?;
        let fingerprint =
            NewMember { email: email.clone(), display_name: display_name.clone(), city: city.clone(), password: String::new() };
        // Scoped to the key alone: the caller has no identity yet.
        let ticket = self.idempotency.ticket("registerMember", "", key, &fingerprint).await?;
        let member_id = ticket.id("member");

        let claim = ClaimEmail { member_id, email: email.clone() };
        self.execute::<EmailClaim>(email_claim_id(&email), claim, ticket.context("claim-email"), None).await?;
        match self.credentials.get(&email).await? {
            // A repeat of this very registration: the password is part of its input.
            Some(existing) if existing.member_id == member_id => {
                if !self.passwords.verify_off_thread(&input.password, &existing.password_hash).await? {
                    return Err(AppError::BadInput("this idempotencyKey was already used with a different input".into()));
                }
            }
            Some(_) => return Err(AppError::AlreadyExists("this e-mail address is already registered".into())),
            None => {
                let password_hash = self.passwords.hash_off_thread(input.password).await?;
                self.credentials.put(&email, &Credential { member_id, password_hash }).await?;
            }
        }
        let register = RegisterMember { member_id, email, display_name, city, registered_at: now() };
        let executed = self.execute::<Member>(member_id, register.into(), ticket.context("register"), None).await?;
        let token = self.tokens.issue(member_id)?;
        Ok((token, self.committed(member_id, executed).await?))
    }

    /// Checks a password; commits nothing.
    pub async fn login(&self, email: &str, password: &str) -> Result<(String, Uuid, u64), AppError> {
        let wrong = || AppError::Unauthenticated("wrong e-mail address or password".into());
        let email = values::normalize_email(email).map_err(|_| wrong())?;
        self.sign_in_limit.check(&email, std::time::Instant::now())?;
        let verified = match self.credentials.get(&email).await? {
            Some(credential) => self.passwords.verify_off_thread(password, &credential.password_hash).await?.then_some(credential),
            None => None,
        };
        let Some(credential) = verified else {
            self.sign_in_limit.failed(&email, std::time::Instant::now());
            return Err(wrong());
        };
        Ok((self.tokens.issue(credential.member_id)?, credential.member_id, self.head().await?))
    }

    pub async fn update_profile(&self, caller: Caller, changes: ProfileChanges, key: Option<&str>) -> Result<Committed, AppError> {
        let Some(member_id) = caller.member_or_admin()? else {
            if let Some(name) = &changes.display_name {
                values::normalize_display_name(name).map_err(AppError::bad_input)?;
            }
            if let Some(Some(city)) = &changes.city {
                values::normalize_city(Some(city)).map_err(AppError::bad_input)?;
            }
            return Err(super::auth::admin_is_not_a_member());
        };
        let ticket = self.idempotency.ticket("updateProfile", &caller.scope(), key, &changes).await?;
        let command = UpdateProfile { member_id, display_name: changes.display_name, city: changes.city, at: now() };
        let executed =
            self.execute::<Member>(member_id, command.into(), ticket.context("update-profile"), changes.expected_version).await?;
        self.committed(member_id, executed).await
    }
}
