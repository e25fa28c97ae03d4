//! Repairs: the compensating commands `konnektid verify --repair` sends for what the checker
//! found, through the normal command path so that every repair is events too. Each command
//! carries the run's correlation id and, in its metadata, `repair` = the violation's id; the
//! choreography's reactions to it inherit both.

use actors::{Aggregate, CommandContext, CommandError, Execute, RecordedEvent};
use uuid::Uuid;

use super::{now, App, AppError, Refusal};
use crate::domain::booking::{Booking, CancelBooking, Canceller};
use crate::domain::course::{Course, ReleaseSeat};
use crate::domain::payment::{Payment, PaymentError, PaymentStatus};
use crate::services::payments::refund_captured;
use crate::verify::Repair;

/// What a repair did.
#[derive(Debug, Clone, PartialEq)]
pub enum Repaired {
    /// The command was accepted; its events (none when there was nothing left to do).
    Committed(Vec<RecordedEvent>),
    /// The aggregate refused the command; why.
    Refused(String),
}

impl App {
    /// Sends the compensating command of violation `violation_id`. `correlation_id` ties the
    /// commands of one repair run together; the command id derives from it and the violation, so
    /// a repair is applied once per run.
    pub async fn repair(&self, correlation_id: Uuid, violation_id: &str, repair: &Repair) -> Result<Repaired, AppError> {
        let context = CommandContext {
            command_id: Uuid::new_v5(&correlation_id, violation_id.as_bytes()),
            correlation_id,
            causation_id: None,
            metadata: Default::default(),
        }
        .with_metadata("repair", violation_id);
        match *repair {
            Repair::ReleaseSeat { course_id, booking_id } => {
                self.send_repair::<Course>(course_id, ReleaseSeat { booking_id, at: now() }.into(), context).await
            }
            Repair::CancelBooking { booking_id, reason } => {
                let cancel = CancelBooking { actor: Canceller::System, reason: Some(reason.to_owned()), at: now() };
                self.send_repair::<Booking>(booking_id, cancel.into(), context).await
            }
            Repair::Refund { booking_id } => self.refund(booking_id, context).await,
        }
    }

    async fn send_repair<A: Aggregate>(&self, id: Uuid, command: A::Command, context: CommandContext) -> Result<Repaired, AppError>
    where
        A::Error: Refusal,
    {
        match tokio::time::timeout(self.command_timeout(), self.runtime.commands().execute(Execute::<A>::new(id, command, context))).await {
            Ok(Ok(executed)) => Ok(Repaired::Committed(executed.events)),
            Ok(Err(CommandError::Rejected(refusal))) => Ok(Repaired::Refused(refusal.to_string())),
            Ok(Err(error)) => Err(AppError::from(error)),
            Err(_) => Err(AppError::Timeout("the repair command could not be served in time".into())),
        }
    }

    /// Refunds through the provider the `payments` handler uses, then records the refund: the
    /// handler's own code path.
    async fn refund(&self, booking_id: Uuid, context: CommandContext) -> Result<Repaired, AppError> {
        let loaded =
            self.runtime.state_at::<Payment>(booking_id, None).await.map_err(|e| AppError::internal("could not load a payment", e))?;
        let Some(payment) = loaded.and_then(|(state, _)| state) else {
            return Ok(Repaired::Refused(PaymentError::NotFound.to_string()));
        };
        match payment.status {
            PaymentStatus::Captured => {}
            PaymentStatus::Refunded => return Ok(Repaired::Committed(vec![])),
            PaymentStatus::Failed | PaymentStatus::Pending => return Ok(Repaired::Refused(PaymentError::NothingToRefund.to_string())),
        }
        match refund_captured(self.gateway.as_ref(), self.runtime.commands(), booking_id, &payment, now(), context).await {
            Ok(Ok(executed)) => Ok(Repaired::Committed(executed.events)),
            Ok(Err(refusal)) => Ok(Repaired::Refused(refusal.to_string())),
            Err(error) => Err(AppError::internal("the refund failed", error)),
        }
    }
}
