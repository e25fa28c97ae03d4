//! The booking choreography end to end on a real runtime: the five aggregates, the booking flow,
//! the simulated payment provider and the outbox mailer, on a temporary directory.

mod market;

use std::sync::atomic::Ordering;

use actors::{Aggregate, CommandContext, EventCodec, EventHandler, RecordedEvent, StreamId};
use chrono::Utc;
use konnektid::domain::booking::{Booking, BookingStatus, CancelBooking, Canceller};
use konnektid::domain::course::{Course, CourseEvent, UpdateCourse};
use konnektid::domain::member::{Member, UpdateProfile};
use konnektid::domain::payment::{Payment, PaymentStatus};
use konnektid::services::{EmailNotifier, Payments, SENT_TABLE};
use uuid::Uuid;

use market::{request, Market};

fn types(events: &[RecordedEvent]) -> Vec<&str> {
    events.iter().map(|event| event.event_type.as_str()).collect()
}

const CONFIRMED_FLOW: [&str; 6] =
    ["BookingRequested", "SeatReserved", "BookingSeatReserved", "ChargeRequested", "PaymentCaptured", "BookingConfirmed"];

#[actix_rt::test]
async fn it_should_confirm_a_booking_and_mail_learner_and_teacher() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    let (booking, correlation) = market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;

    assert_eq!(types(&market.flow(correlation).await), CONFIRMED_FLOW);
    assert_eq!(market.state::<Booking>(booking).await.map(|b| b.status), Some(BookingStatus::Confirmed));
    assert_eq!(Payment::status(&market.state::<Payment>(booking).await), PaymentStatus::Captured);
    assert_eq!(market.seats_taken(course).await, 1);
    let mails = market.outbox();
    assert_eq!(mails.len(), 2, "one to the learner, one to the teacher");
    assert!(mails.iter().any(|mail| mail.contains("<learner@example.org>") && mail.contains("is confirmed")));
    assert!(mails.iter().any(|mail| mail.contains("<teacher@example.org>") && mail.contains("New booking")));
}

#[actix_rt::test]
async fn it_should_name_the_course_and_the_people_as_they_are_when_the_booking_is_confirmed() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    // Both actors are live with the old names; the e-mails must not be written from those.
    let retitle = UpdateCourse {
        actor_id: teacher,
        title: Some("Rye and spelt".to_owned()),
        description: None,
        category: None,
        city: None,
        price_cents: None,
        capacity: None,
        at: Utc::now(),
    };
    market.test.send::<Course>(course, retitle.into()).await.expect("retitled");
    let rename = UpdateProfile { member_id: learner, display_name: Some("Ada".to_owned()), city: None, at: Utc::now() };
    market.test.send::<Member>(learner, rename.into()).await.expect("renamed");
    market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;

    let mails = market.outbox();
    let to_learner = mails.iter().find(|mail| mail.contains("<learner@example.org>")).expect("the learner's e-mail");
    assert!(to_learner.contains("Hello Ada,") && to_learner.contains("\"Rye and spelt\""), "{to_learner}");
    let to_teacher = mails.iter().find(|mail| mail.contains("<teacher@example.org>")).expect("the teacher's e-mail");
    assert!(to_teacher.contains("Ada booked a seat in \"Rye and spelt\""), "{to_teacher}");
}

#[actix_rt::test]
async fn it_should_cancel_a_booking_whose_payment_is_declined() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    let (booking, correlation) = market.book(learner, course, teacher, "tok_decline").await;
    market.test.settle().await;

    let expected =
        ["BookingRequested", "SeatReserved", "BookingSeatReserved", "ChargeRequested", "PaymentFailed", "BookingCancelled", "SeatReleased"];
    assert_eq!(types(&market.flow(correlation).await), expected);
    let state = market.state::<Booking>(booking).await.expect("the booking exists");
    assert_eq!((state.status, state.reason.as_deref()), (BookingStatus::Cancelled, Some("payment failed: the card was declined")));
    assert_eq!(Payment::status(&market.state::<Payment>(booking).await), PaymentStatus::Failed);
    assert_eq!((market.charges().await, market.seats_taken(course).await), (0, 0), "nothing captured, the seat is free again");
}

#[actix_rt::test]
async fn it_should_reject_a_booking_when_the_course_is_full() {
    let market = Market::start().await;
    let (teacher, first, second) = (market.member("teacher").await, market.member("first").await, market.member("second").await);
    let course = market.course(teacher, 1).await;
    market.book(first, course, teacher, "tok_visa").await;
    market.test.settle().await;
    let (booking, correlation) = market.book(second, course, teacher, "tok_visa").await;
    market.test.settle().await;

    assert_eq!(types(&market.flow(correlation).await), ["BookingRequested", "SeatReservationRejected", "BookingRejected"]);
    assert_eq!(
        market.state::<Booking>(booking).await.map(|b| (b.status, b.reason)),
        Some((BookingStatus::Rejected, Some("the course is full".to_owned())))
    );
    assert_eq!(market.state::<Payment>(booking).await, None, "no payment for a rejected booking");
    assert_eq!(market.charges().await, 1, "only the first booking was charged");
}

#[actix_rt::test]
async fn it_should_release_the_seat_and_refund_when_the_learner_cancels() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    let (booking, _) = market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;
    let cancel = CancelBooking { actor: Canceller::Learner(learner), reason: Some("I am ill".to_owned()), at: Utc::now() };
    let executed = market.test.send::<Booking>(booking, cancel.into()).await.expect("cancelled");
    market.test.settle().await;

    let flow = market.flow(executed.events[0].correlation_id).await;
    let mut reactions = types(&flow[1..]);
    reactions.sort_unstable();
    assert_eq!((flow[0].event_type.as_str(), reactions), ("BookingCancelled", vec!["PaymentRefunded", "SeatReleased"]));
    assert!(flow[1..].iter().all(|event| event.causation_id == Some(flow[0].event_id)), "both react to the cancellation");
    assert_eq!(Payment::status(&market.state::<Payment>(booking).await), PaymentStatus::Refunded);
    assert_eq!((market.refunds().await, market.seats_taken(course).await), (1, 0));
    let mails = market.outbox();
    assert_eq!(mails.len(), 3);
    assert!(mails.iter().any(|mail| mail.contains("<learner@example.org>") && mail.contains("is cancelled") && mail.contains("I am ill")));
}

#[actix_rt::test]
async fn it_should_never_give_more_seats_than_the_capacity() {
    let market = Market::start().await;
    let teacher = market.member("teacher").await;
    let course = market.course(teacher, 5).await;
    let mut learners = Vec::new();
    for index in 0..20 {
        learners.push(market.member(&format!("learner{index}")).await);
    }
    let runtime = market.test.runtime().clone();
    let requests = learners.iter().map(|&learner| {
        let (runtime, booking_id) = (runtime.clone(), Uuid::new_v4());
        async move {
            let request = request(learner, course, teacher, "tok_visa");
            runtime.commands().send::<Booking>(booking_id, request, CommandContext::new_request()).await.expect("requested");
            booking_id
        }
    });
    let bookings = futures::future::join_all(requests).await;
    market.test.settle().await;

    let mut statuses = Vec::new();
    for booking in &bookings {
        statuses.push(market.state::<Booking>(*booking).await.expect("the booking exists").status);
    }
    assert_eq!(statuses.iter().filter(|status| **status == BookingStatus::Confirmed).count(), 5);
    assert_eq!(statuses.iter().filter(|status| **status == BookingStatus::Rejected).count(), 15);
    assert_eq!((market.charges().await, market.outbox().len()), (5, 10));
    let history = market.test.store().read_stream(&StreamId::new(Course::TYPE, course), 1, usize::MAX).await.expect("the course stream");
    let codec = EventCodec::<CourseEvent>::default();
    let mut state = None;
    for recorded in &history {
        state = Course::apply(state, &codec.decode(recorded).expect("a course event"));
        assert!(state.as_ref().is_some_and(|course| course.seats_taken() <= course.capacity), "over capacity at v{}", recorded.version);
    }
}

#[actix_rt::test]
async fn it_should_chain_every_reaction_to_the_event_that_caused_it() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    let (_, correlation) = market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;

    let flow = market.flow(correlation).await;
    assert_eq!(types(&flow), CONFIRMED_FLOW, "every event of the flow shares the request's correlation id");
    assert_eq!(flow[0].causation_id, None, "the request itself has no cause");
    let cause_of = |index: usize| flow.iter().find(|event| Some(event.event_id) == flow[index].causation_id).map(|e| e.event_type.as_str());
    let causes: Vec<Option<&str>> = (1..flow.len()).map(cause_of).collect();
    // The charge's intent and its outcome are both the payments handler's reaction to the seat.
    let expected = ["BookingRequested", "SeatReserved", "BookingSeatReserved", "BookingSeatReserved", "PaymentCaptured"];
    assert_eq!(causes, expected.map(Some));
}

#[actix_rt::test]
async fn it_should_hold_no_seat_and_keep_no_money_for_a_booking_cancelled_at_once() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 10).await;
    let mut bookings = Vec::new();
    for _ in 0..5 {
        // The cancellation races the flow: it may land before the seat, before the charge or after.
        let (booking, _) = market.book(learner, course, teacher, "tok_visa").await;
        let cancel = CancelBooking { actor: Canceller::Learner(learner), reason: None, at: Utc::now() };
        market.test.send::<Booking>(booking, cancel.into()).await.expect("cancelled");
        bookings.push(booking);
    }
    market.test.settle().await;

    assert_eq!(market.seats_taken(course).await, 0);
    for booking in bookings {
        let payment = Payment::status(&market.state::<Payment>(booking).await);
        assert!(matches!(payment, PaymentStatus::Pending | PaymentStatus::Refunded), "{booking}: {payment}");
    }
    assert_eq!(market.charges().await, market.refunds().await);
}

#[actix_rt::test]
async fn it_should_keep_everything_and_mail_nothing_twice_after_a_restart() {
    let mut market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    let (booking, _) = market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;
    let before = market.test.events().await;

    market.test.restart().await;
    market.test.settle().await;
    assert_eq!(market.test.events().await, before, "nothing new was recorded");
    assert_eq!(market.state::<Booking>(booking).await.map(|b| b.status), Some(BookingStatus::Confirmed));
    assert_eq!((market.mailer.sent.load(Ordering::SeqCst), market.outbox().len(), market.charges().await), (2, 2, 1));

    let (_, correlation) = market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;
    assert_eq!(types(&market.flow(correlation).await), CONFIRMED_FLOW, "the services run after the restart");
    assert_eq!((market.mailer.sent.load(Ordering::SeqCst), market.outbox().len()), (4, 4));
}

/// The payments and e-mail handlers ask the runtime for no dedup records: a crash before their
/// checkpoint (written behind) hands them events they handled already, which must then charge,
/// refund, mail and record nothing.
#[actix_rt::test]
async fn it_should_charge_refund_and_mail_nothing_again_when_the_handlers_see_the_whole_history_again() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 5).await;
    market.book(learner, course, teacher, "tok_visa").await;
    market.book(learner, course, teacher, "tok_decline").await;
    let (cancelled, _) = market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;
    let cancel = CancelBooking { actor: Canceller::Learner(learner), reason: None, at: Utc::now() };
    market.test.send::<Booking>(cancelled, cancel.into()).await.expect("cancelled");
    market.test.settle().await;
    let before = market.test.events().await;
    let money = (market.charges().await, market.refunds().await);
    assert_eq!(money, (2, 1), "two captured charges, one refunded");
    let mailed = market.mailer.sent.load(Ordering::SeqCst);

    let runtime = market.test.runtime();
    let store = runtime.store();
    let payments = Payments::new(store.clone(), market.gateway.clone());
    let email = EmailNotifier::new(market.mailer.clone(), store.records(SENT_TABLE).expect("the sent records"));
    for event in &before {
        for handler in [&payments as &dyn EventHandler, &email] {
            if handler.event_types().contains(&event.event_type.as_str()) {
                handler.handle(event, runtime.commands()).await.expect("handled again");
            }
        }
    }
    market.test.settle().await;
    assert_eq!(market.test.events().await, before, "nothing new was recorded");
    assert_eq!((market.charges().await, market.refunds().await), money, "no money moved again");
    assert_eq!(market.mailer.sent.load(Ordering::SeqCst), mailed, "no message went out again");
}

#[actix_rt::test]
async fn it_should_refund_a_payment_captured_for_a_booking_cancelled_meanwhile() {
    let market = Market::with_charge_permits(0).await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    let (booking, _) = market.book(learner, course, teacher, "tok_visa").await;
    let charging = tokio::time::timeout(std::time::Duration::from_secs(10), market.gateway.charging.notified());
    charging.await.expect("the booking is being charged");
    let cancel = CancelBooking { actor: Canceller::Learner(learner), reason: None, at: Utc::now() };
    market.test.send::<Booking>(booking, cancel.into()).await.expect("cancelled while the charge is in flight");
    market.gateway.permits.add_permits(1);
    market.test.settle().await;

    assert_eq!(market.state::<Booking>(booking).await.map(|b| b.status), Some(BookingStatus::Cancelled), "not confirmed after all");
    assert_eq!(Payment::status(&market.state::<Payment>(booking).await), PaymentStatus::Refunded);
    assert_eq!((market.charges().await, market.refunds().await), (1, 1));
    assert_eq!(market.seats_taken(course).await, 0);
}

#[actix_rt::test]
async fn it_should_send_only_the_missing_message_when_an_event_is_retried() {
    let market = Market::start().await;
    let (teacher, learner) = (market.member("teacher").await, market.member("learner").await);
    let course = market.course(teacher, 3).await;
    *market.mailer.fail_once_for.lock().expect("not poisoned") = Some("teacher@example.org".to_owned());
    market.book(learner, course, teacher, "tok_visa").await;
    market.test.settle().await;

    let mut delivered = market.mailer.delivered_to.lock().expect("not poisoned").clone();
    delivered.sort_unstable();
    assert_eq!(delivered, ["learner@example.org", "teacher@example.org"], "the retry sent the teacher's message only");
    assert_eq!(market.mailer.sent.load(Ordering::SeqCst), 3, "the teacher's message was tried twice");
}
