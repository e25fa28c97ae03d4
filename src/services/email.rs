//! The `email` side-effect handler: tells the learner and the teacher when a booking is
//! confirmed, and the learner when it is cancelled.
//!
//! Names, addresses and the course title come from the member and course aggregates, read in
//! their live actors: current, unlike the read models, which may lag behind the event, and
//! without replaying a course's stream of reservations for its title. Each message's
//! id derives from the event and the recipient's role, so a retried event formats the very same
//! message (the outbox keeps the same file, the `Message-ID` lets a relay drop a duplicate).
//!
//! Each message sent leaves a done record of its own in the store's [`SENT_TABLE`], so a retry
//! after a partial failure (the learner's message sent, the teacher's not) sends only what is
//! missing, and so does any other process sharing the store.

use std::sync::Arc;

use actors::{CommandBus, EventHandler, RecordedEvent, Records, SubscriberError};
use async_trait::async_trait;
use uuid::Uuid;

use super::mailer::{EmailMessage, Mailer, Recipient};
use super::reaction::{decode, inspect};
use crate::domain::booking::{Booking, BookingEvent, BookingState};
use crate::domain::course::Course;
use crate::domain::member::{Member, MemberState};

/// The subscriber name of [`EmailNotifier`].
pub const EMAIL: &str = "email";

/// The records table of the messages sent, by message id.
pub const SENT_TABLE: &str = "email-sent";

/// Something an e-mail needs is not in the store; the event is retried, then parked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("cannot write the e-mail: there is no {aggregate} {id}")]
    Missing { aggregate: &'static str, id: Uuid },
}

/// The `email` side-effect handler.
pub struct EmailNotifier {
    mailer: Arc<dyn Mailer>,
    /// One done record per message sent ([`SENT_TABLE`]).
    sent: Arc<dyn Records>,
}

/// What the e-mails about one booking say.
struct Facts {
    booking: BookingState,
    learner: MemberState,
    course_title: String,
}

impl EmailNotifier {
    pub fn new(mailer: Arc<dyn Mailer>, sent: Arc<dyn Records>) -> Self {
        Self { mailer, sent }
    }

    /// The ids among `ids` of the messages not sent before.
    async fn unsent(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, SubscriberError> {
        let mut unsent = Vec::new();
        for id in ids {
            if self.sent.get(id.as_bytes()).await?.is_none() {
                unsent.push(*id);
            } else {
                tracing::debug!(message_id = %id, "e-mail sent before; not sending it again");
            }
        }
        Ok(unsent)
    }

    /// Sends the messages whose ids are `unsent`, side by side, and records each one sent. Every
    /// message is tried even when another fails, so a retry has only the failed ones left.
    async fn send(&self, mut messages: Vec<EmailMessage>, unsent: &[Uuid]) -> Result<(), SubscriberError> {
        messages.retain(|message| unsent.contains(&message.message_id));
        let outcomes = futures::future::join_all(messages.into_iter().map(|message| self.send_once(message))).await;
        outcomes.into_iter().collect()
    }

    async fn send_once(&self, message: EmailMessage) -> Result<(), SubscriberError> {
        let key = message.message_id.into_bytes();
        tracing::info!(message_id = %message.message_id, subject = %message.subject, "sending e-mail");
        self.mailer.send(message).await.map_err(SubscriberError::failed)?;
        self.sent.put(&key, &[]).await?;
        Ok(())
    }
}

#[async_trait]
impl EventHandler for EmailNotifier {
    fn event_types(&self) -> &[&'static str] {
        &["BookingConfirmed", "BookingCancelled"]
    }

    /// The booking: its learner hears of the confirmation before the cancellation.
    fn ordering_key(&self, event: &RecordedEvent) -> Uuid {
        event.stream.aggregate_id
    }

    /// Each message has a done record of its own, checked before it is sent.
    fn records_completions(&self) -> bool {
        false
    }

    async fn handle(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let Some(booking_event) = decode::<Booking>(event)? else { return Ok(()) };
        match booking_event {
            BookingEvent::BookingConfirmed { .. } => {
                let unsent = self.unsent(&[message_id(event, LEARNER), message_id(event, TEACHER)]).await?;
                if unsent.is_empty() {
                    return Ok(());
                }
                let facts = facts(event, commands).await?;
                let teacher = member(commands, facts.booking.teacher_id).await?;
                let messages = vec![confirmation_to_learner(event, &facts, &teacher), notice_to_teacher(event, &facts, &teacher)];
                self.send(messages, &unsent).await
            }
            BookingEvent::BookingCancelled { reason, was_confirmed, .. } => {
                let unsent = self.unsent(&[message_id(event, LEARNER)]).await?;
                if unsent.is_empty() {
                    return Ok(());
                }
                let facts = facts(event, commands).await?;
                self.send(vec![cancellation_to_learner(event, &facts, reason.as_deref(), was_confirmed)], &unsent).await
            }
            _ => Ok(()),
        }
    }
}

/// The facts of the booking whose `event` this is, read at least as of that event.
async fn facts(event: &RecordedEvent, commands: &CommandBus) -> Result<Facts, SubscriberError> {
    let booking_id = event.stream.aggregate_id;
    let booking = inspect::<Booking, _>(commands, booking_id, event.version, Clone::clone).await?;
    let booking = booking.ok_or_else(|| missing("booking", booking_id))?;
    let learner = member(commands, booking.learner_id).await?;
    let course_id = booking.course_id;
    let title = inspect::<Course, _>(commands, course_id, 0, |course| course.as_ref().map(|c| c.title.clone())).await?;
    Ok(Facts { booking, learner, course_title: title.ok_or_else(|| missing("course", course_id))? })
}

async fn member(commands: &CommandBus, id: Uuid) -> Result<MemberState, SubscriberError> {
    inspect::<Member, _>(commands, id, 0, Clone::clone).await?.ok_or_else(|| missing("member", id))
}

fn missing(aggregate: &'static str, id: Uuid) -> SubscriberError {
    SubscriberError::failed(EmailError::Missing { aggregate, id })
}

const LEARNER: &str = "learner";
const TEACHER: &str = "teacher";

/// The id of the message about `event` to the recipient in `role`.
fn message_id(event: &RecordedEvent, role: &str) -> Uuid {
    Uuid::new_v5(&event.event_id, role.as_bytes())
}

/// One message per (event, recipient role). Bodies use `\n`; the formatter turns it into CRLF.
fn message(event: &RecordedEvent, role: &str, to: &MemberState, subject: String, body: String) -> EmailMessage {
    EmailMessage {
        message_id: message_id(event, role),
        to: Recipient { name: to.display_name.clone(), email: to.email.clone() },
        subject,
        body,
        date: event.recorded_at,
    }
}

fn confirmation_to_learner(event: &RecordedEvent, facts: &Facts, teacher: &MemberState) -> EmailMessage {
    let Facts { booking, learner, course_title } = facts;
    let body = format!(
        "Hello {},\n\nyour booking for \"{course_title}\" with {} is confirmed.\nWe charged {}.\n\nHappy learning,\nKonnektid\n",
        learner.display_name,
        teacher.display_name,
        money(booking.price_cents, &booking.currency),
    );
    message(event, LEARNER, learner, format!("Your booking for {course_title} is confirmed"), body)
}

fn notice_to_teacher(event: &RecordedEvent, facts: &Facts, teacher: &MemberState) -> EmailMessage {
    let Facts { booking, learner, course_title } = facts;
    let body = format!(
        "Hello {},\n\n{} booked a seat in \"{course_title}\" and paid {}.\n\nKonnektid\n",
        teacher.display_name,
        learner.display_name,
        money(booking.price_cents, &booking.currency),
    );
    message(event, TEACHER, teacher, format!("New booking for {course_title}"), body)
}

fn cancellation_to_learner(event: &RecordedEvent, facts: &Facts, reason: Option<&str>, was_confirmed: bool) -> EmailMessage {
    let Facts { booking, learner, course_title } = facts;
    let why = reason.map(|reason| format!("Reason: {reason}\n")).unwrap_or_default();
    // Said only when it is certain: a confirmed booking's payment was captured.
    let money_note =
        if was_confirmed { format!("We are refunding {} to you.\n", money(booking.price_cents, &booking.currency)) } else { String::new() };
    let body =
        format!("Hello {},\n\nyour booking for \"{course_title}\" is cancelled.\n{why}{money_note}\nKonnektid\n", learner.display_name);
    message(event, LEARNER, learner, format!("Your booking for {course_title} is cancelled"), body)
}

/// `2500, "EUR"` as `25.00 EUR`.
fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02} {currency}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100)
}
