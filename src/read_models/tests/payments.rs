//! The `payments` read model: PENDING once the seat is held, then the provider's outcome.

use uuid::Uuid;

use super::{at, cancelled, captured, confirmed_booking, failed, refunded, requested, Log};
use crate::domain::booking::BookingEvent;
use crate::read_models::payments::PaymentStatus;

#[actix_rt::test]
async fn it_should_show_a_captured_then_refunded_payment() {
    let log = Log::start().await;
    let (course, learner, teacher) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let booking = confirmed_booking(&log, course, learner, teacher).await;
    let payments = log.read().await.payments;
    let view = payments.get(booking).expect("the read model answers").expect("the payment is known");
    assert_eq!((view.booking_id, view.status, view.amount_cents, view.currency.as_str()), (booking, PaymentStatus::Captured, 2500, "EUR"));

    log.booking(booking, [cancelled(course, None, true)]).await;
    log.payment(booking, [refunded(booking, 2500, "EUR")]).await;
    let payments = log.read().await.payments;
    let view = payments.get(booking).expect("the read model answers").expect("the payment is known");
    assert_eq!((view.status, view.amount_cents), (PaymentStatus::Refunded, 2500));
}

#[actix_rt::test]
async fn it_should_be_pending_from_the_seat_on_and_gone_if_cancelled_before_any_charge() {
    let log = Log::start().await;
    let (booking, course) = (Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(Uuid::new_v4(), course, Uuid::new_v4())]).await;
    assert_eq!(log.read().await.payments.get(booking).expect("the read model answers"), None);

    log.booking(booking, [BookingEvent::BookingSeatReserved { reserved_at: at(4) }]).await;
    let view = log.read().await.payments.get(booking).expect("the read model answers").expect("the payment is pending");
    assert_eq!((view.status, view.amount_cents, view.failure_reason.clone()), (PaymentStatus::Pending, 2500, None));

    log.booking(booking, [cancelled(course, None, false)]).await;
    assert_eq!(log.read().await.payments.get(booking).expect("the read model answers"), None);
}

#[actix_rt::test]
async fn it_should_keep_a_failure_and_its_reason() {
    let log = Log::start().await;
    let (booking, course) = (Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(Uuid::new_v4(), course, Uuid::new_v4())]).await;
    log.booking(booking, [BookingEvent::BookingSeatReserved { reserved_at: at(4) }]).await;
    log.payment(booking, [failed(booking, "card declined")]).await;
    log.booking(booking, [cancelled(course, Some("payment failed"), false)]).await;

    let view = log.read().await.payments.get(booking).expect("the read model answers").expect("the failure is kept");
    assert_eq!(view.status, PaymentStatus::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("card declined"));
}

#[actix_rt::test]
async fn it_should_not_let_a_late_seat_event_hide_an_outcome() {
    let log = Log::start().await;
    let booking = Uuid::new_v4();
    log.booking(booking, [requested(Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4())]).await;
    log.payment(booking, [captured(booking, 2500, "EUR")]).await;
    log.booking(booking, [BookingEvent::BookingSeatReserved { reserved_at: at(4) }]).await;

    let view = log.read().await.payments.get(booking).expect("the read model answers").expect("the payment is known");
    assert_eq!(view.status, PaymentStatus::Captured);
}
