//! The write side of the API: each operation validates what it can before dispatch, looks up
//! what the command needs, sends it with ids derived from the idempotency key, and answers with
//! what it committed.

use std::time::Duration;

use actors::{Aggregate, CommandContext, CommandError, Execute, Executed, ProjectorStatus, RecordedEvent, Version};
use serde::Serialize;
use uuid::Uuid;

use super::{now, App, AppError, Caller, Credential, Refusal};
use crate::domain::booking::{Booking, CancelBooking, Canceller, RequestBooking};
use crate::domain::course::{ArchiveCourse, Course, CourseState, CourseStatus, CreateCourse, PublishCourse, UpdateCourse};
use crate::domain::email_claim::{ClaimEmail, EmailClaim};
use crate::domain::member::{Member, RegisterMember, UpdateProfile};
use crate::domain::values::{self, ValueError};
use crate::domain::RefusalKind;

const EMAIL_CLAIMS: Uuid = Uuid::from_u128(0x6b6f_6e6e_656b_7469_6400_0000_0000_0002);

/// The stream that holds the claim on a normalized e-mail address.
pub fn email_claim_id(normalized_email: &str) -> Uuid {
    Uuid::new_v5(&EMAIL_CLAIMS, normalized_email.as_bytes())
}

/// What a mutation committed: the aggregate it is about, its events, and the position to wait
/// for (the head of the log when it committed nothing).
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: Uuid,
    pub events: Vec<RecordedEvent>,
    pub position: u64,
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
    pub expected_version: Option<Version>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewCourse {
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CourseChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub city: Option<Option<String>>,
    pub price_cents: Option<i64>,
    pub capacity: Option<i64>,
    pub expected_version: Option<Version>,
}

fn bad_input(error: ValueError) -> AppError {
    AppError::BadInput(error.to_string())
}

fn capacity(seats: i64) -> Result<u32, AppError> {
    u32::try_from(seats).map_err(|_| AppError::BadInput("capacity must be between 1 and 10000".into()))
}

impl App {
    async fn execute<A: Aggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        context: CommandContext,
        expected: Option<Version>,
    ) -> Result<Executed<A>, AppError>
    where
        A::Error: Refusal,
    {
        // Kept to rank a version conflict: see `outranking_refusal`.
        let retained = expected.is_some().then(|| command.clone());
        let execute = Execute::<A>::new(id, command, context).expecting(expected);
        let timeout = Duration::from_millis(self.limits.command_timeout_ms.max(1));
        match tokio::time::timeout(timeout, self.runtime.execute(execute)).await {
            Ok(Err(CommandError::Conflict(conflict))) => {
                let outranking = match retained {
                    Some(command) => self.outranking_refusal::<A>(id, command).await,
                    None => None,
                };
                Err(outranking.unwrap_or_else(|| AppError::from(CommandError::<A::Error>::Conflict(conflict))))
            }
            Ok(result) => result.map_err(AppError::from),
            Err(_) => Err(AppError::Timeout(
                "the command could not be served in time; it may still complete, retry with the same idempotencyKey".into(),
            )),
        }
    }

    /// The runtime checks `expectedVersion` before the aggregate decides, but the contract ranks
    /// BAD_INPUT, NOT_FOUND and FORBIDDEN above CONFLICT: on a conflict, ask the aggregate what it
    /// would answer on its current state (deciding is pure; nothing is sent) and prefer such a
    /// refusal.
    async fn outranking_refusal<A: Aggregate>(&self, id: Uuid, command: A::Command) -> Option<AppError>
    where
        A::Error: Refusal,
    {
        let state = self.runtime.state_at::<A>(id, None).await.ok()?.map(|(state, _)| state).unwrap_or_default();
        let refusal = A::handle(&state, command).err()?;
        let kind = refusal.refusal_kind();
        matches!(kind, RefusalKind::BadInput | RefusalKind::NotFound | RefusalKind::Forbidden)
            .then(|| AppError::from_refusal(kind, refusal.to_string()))
    }

    /// The admin is not a member, so its member commands are FORBIDDEN, but only after what the
    /// contract ranks higher: deciding the same command for nobody, the domain finds bad input
    /// and unknown targets first.
    async fn refuse_admin<A: Aggregate>(&self, id: Uuid, command: A::Command) -> AppError
    where
        A::Error: Refusal,
    {
        let state = match self.runtime.state_at::<A>(id, None).await {
            Ok(state) => state.map(|(state, _)| state).unwrap_or_default(),
            Err(error) => return AppError::internal("could not load an aggregate", error),
        };
        match A::handle(&state, command) {
            Err(refusal) if matches!(refusal.refusal_kind(), RefusalKind::BadInput | RefusalKind::NotFound) => {
                AppError::from_refusal(refusal.refusal_kind(), refusal.to_string())
            }
            _ => super::auth::admin_is_not_a_member(),
        }
    }

    /// Runs a command a member sends to an existing aggregate: the admin is refused (after what
    /// ranks higher), ids come from the idempotency key, and the answer is what it committed.
    #[allow(clippy::too_many_arguments)]
    async fn as_member<A: Aggregate>(
        &self,
        caller: Caller,
        id: Uuid,
        mutation: &str,
        fingerprint: &impl Serialize,
        expected: Option<Version>,
        key: Option<&str>,
        command: impl FnOnce(Uuid) -> A::Command,
    ) -> Result<Committed, AppError>
    where
        A::Error: Refusal,
    {
        let Some(actor) = caller.member_or_admin()? else {
            return Err(self.refuse_admin::<A>(id, command(Uuid::nil())).await);
        };
        let ticket = self.idempotency.ticket(mutation, &caller.scope(), key, fingerprint)?;
        let executed = self.execute::<A>(id, command(actor), ticket.context(mutation), expected).await?;
        self.committed(id, executed).await
    }

    async fn committed<A: Aggregate>(&self, id: Uuid, executed: Executed<A>) -> Result<Committed, AppError> {
        let position = match executed.last_position() {
            Some(position) => position,
            None => self.head().await?,
        };
        Ok(Committed { id, events: executed.events, position })
    }

    /// Registers a member: claims the address, stores the credential, records the member.
    pub async fn register_member(&self, input: NewMember, key: Option<&str>) -> Result<(String, Committed), AppError> {
        let email = values::normalize_email(&input.email).map_err(bad_input)?;
        values::validate_password(&input.password).map_err(bad_input)?;
        let display_name = values::normalize_display_name(&input.display_name).map_err(bad_input)?;
        let city = values::normalize_city(input.city.as_deref()).map_err(bad_input)?;
        let fingerprint =
            NewMember { email: email.clone(), display_name: display_name.clone(), city: city.clone(), password: String::new() };
        // Scoped to the key alone: the caller has no identity yet.
        let ticket = self.idempotency.ticket("registerMember", "", key, &fingerprint)?;
        let member_id = ticket.id("member");

        let claim = ClaimEmail { member_id, email: email.clone() };
        self.execute::<EmailClaim>(email_claim_id(&email), claim, ticket.context("claim-email"), None).await?;
        match self.credentials.get(&email)? {
            // A repeat of this very registration: the password is part of its input.
            Some(existing) if existing.member_id == member_id => {
                if !self.verify_password(&input.password, &existing.password_hash).await? {
                    return Err(AppError::BadInput("this idempotencyKey was already used with a different input".into()));
                }
            }
            Some(_) => return Err(AppError::AlreadyExists("this e-mail address is already registered".into())),
            None => {
                let password_hash = self.hash_password(input.password).await?;
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
        let verified = match self.credentials.get(&email)? {
            Some(credential) => self.verify_password(password, &credential.password_hash).await?.then_some(credential),
            None => None,
        };
        let Some(credential) = verified else {
            self.sign_in_limit.failed(&email, std::time::Instant::now());
            return Err(wrong());
        };
        Ok((self.tokens.issue(credential.member_id)?, credential.member_id, self.head().await?))
    }

    async fn hash_password(&self, password: String) -> Result<String, AppError> {
        let passwords = self.passwords.clone();
        tokio::task::spawn_blocking(move || passwords.hash(&password))
            .await
            .map_err(|e| AppError::internal("password hashing stopped", e))?
    }

    async fn verify_password(&self, password: &str, hash: &str) -> Result<bool, AppError> {
        let (passwords, password, hash) = (self.passwords.clone(), password.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || passwords.verify(&password, &hash))
            .await
            .map_err(|e| AppError::internal("password check stopped", e))
    }

    pub async fn update_profile(&self, caller: Caller, changes: ProfileChanges, key: Option<&str>) -> Result<Committed, AppError> {
        let Some(member_id) = caller.member_or_admin()? else {
            if let Some(name) = &changes.display_name {
                values::normalize_display_name(name).map_err(bad_input)?;
            }
            if let Some(Some(city)) = &changes.city {
                values::normalize_city(Some(city)).map_err(bad_input)?;
            }
            return Err(super::auth::admin_is_not_a_member());
        };
        let ticket = self.idempotency.ticket("updateProfile", &caller.scope(), key, &changes)?;
        let command = UpdateProfile { member_id, display_name: changes.display_name, city: changes.city, at: now() };
        let executed =
            self.execute::<Member>(member_id, command.into(), ticket.context("update-profile"), changes.expected_version).await?;
        self.committed(member_id, executed).await
    }

    pub async fn create_course(&self, caller: Caller, course: NewCourse, key: Option<&str>) -> Result<Committed, AppError> {
        let teacher = caller.member_or_admin()?;
        let ticket_input = course.clone();
        let command = CreateCourse {
            teacher_id: teacher.unwrap_or_default(),
            title: course.title,
            description: course.description,
            category: course.category,
            city: course.city,
            price_cents: course.price_cents,
            currency: course.currency,
            capacity: capacity(course.capacity)?,
            created_at: now(),
        };
        if teacher.is_none() {
            return Err(self.refuse_admin::<Course>(Uuid::nil(), command.into()).await);
        }
        let ticket = self.idempotency.ticket("createCourse", &caller.scope(), key, &ticket_input)?;
        let course_id = ticket.id("course");
        let executed = self.execute::<Course>(course_id, command.into(), ticket.context("create-course"), None).await?;
        self.committed(course_id, executed).await
    }

    pub async fn update_course(
        &self,
        caller: Caller,
        course_id: Uuid,
        changes: CourseChanges,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let capacity = changes.capacity.map(capacity).transpose()?;
        let fingerprint = (course_id, changes.clone());
        let CourseChanges { title, description, category, city, price_cents, expected_version, .. } = changes;
        self.as_member::<Course>(caller, course_id, "updateCourse", &fingerprint, expected_version, key, |actor_id| {
            UpdateCourse { actor_id, title, description, category, city, price_cents, capacity, at: now() }.into()
        })
        .await
    }

    pub async fn publish_course(
        &self,
        caller: Caller,
        course_id: Uuid,
        expected: Option<Version>,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        self.as_member::<Course>(caller, course_id, "publishCourse", &(course_id, expected), expected, key, |actor_id| {
            PublishCourse { actor_id, at: now() }.into()
        })
        .await
    }

    pub async fn archive_course(
        &self,
        caller: Caller,
        course_id: Uuid,
        expected: Option<Version>,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        self.as_member::<Course>(caller, course_id, "archiveCourse", &(course_id, expected), expected, key, |actor_id| {
            ArchiveCourse { actor_id, at: now() }.into()
        })
        .await
    }

    /// Starts the booking choreography. The course is read in its live actor (never stale, and
    /// no replay of its reservations): an unknown course is NOT_FOUND at once, and so is a draft
    /// its teacher has not published.
    pub async fn request_booking(
        &self,
        caller: Caller,
        course_id: Uuid,
        payment_method: String,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let learner = caller.member_or_admin()?;
        let payment_method = values::normalize_payment_method(&payment_method).map_err(bad_input)?;
        let not_found = || AppError::NotFound(format!("there is no course {course_id}"));
        let terms = |course: &Option<CourseState>, _| course.as_ref().map(|c| (c.status, c.teacher_id, c.price_cents, c.currency.clone()));
        let course = self.runtime.commands().inspect::<Course, _>(course_id, 0, terms).await?;
        let (status, teacher_id, price_cents, currency) = course.ok_or_else(not_found)?;
        if status == CourseStatus::Draft && Some(teacher_id) != learner {
            return Err(not_found());
        }
        let Some(learner_id) = learner else { return Err(super::auth::admin_is_not_a_member()) };
        let ticket = self.idempotency.ticket("requestBooking", &caller.scope(), key, &(course_id, &payment_method))?;
        let booking_id = ticket.id("booking");
        let command = RequestBooking { learner_id, course_id, teacher_id, price_cents, currency, payment_method, requested_at: now() };
        let executed = self.execute::<Booking>(booking_id, command.into(), ticket.context("request-booking"), None).await?;
        self.committed(booking_id, executed).await
    }

    pub async fn cancel_booking(
        &self,
        caller: Caller,
        booking_id: Uuid,
        reason: Option<String>,
        expected: Option<Version>,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let fingerprint = (booking_id, reason.clone(), expected);
        self.as_member::<Booking>(caller, booking_id, "cancelBooking", &fingerprint, expected, key, |learner_id| {
            CancelBooking { actor: Canceller::Learner(learner_id), reason, at: now() }.into()
        })
        .await
    }

    /// Admin: rebuilds a read model from the whole log while the current copy keeps serving.
    /// An unknown name is BAD_INPUT even for a member: the contract ranks it above FORBIDDEN.
    pub async fn rebuild_projection(&self, caller: Caller, name: &str) -> Result<ProjectorStatus, AppError> {
        let names = super::read_model_names();
        if !names.contains(&name) {
            let names = names.join(", ");
            return Err(AppError::BadInput(format!("there is no read model named {name:?}; read models: {names}")));
        }
        if !caller.is_admin() {
            return Err(AppError::Forbidden("only the admin may rebuild a projection".into()));
        }
        self.runtime.projections().rebuild(name).await.map_err(|error| match error {
            actors::projection::RebuildError::AlreadyRebuilding(_) => AppError::RuleViolation(error.to_string()),
            other => AppError::internal("could not start a rebuild", other),
        })
    }
}
