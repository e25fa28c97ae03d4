//! The simulated provider against an in-memory store's records: each test token, idempotency by
//! key, durable attempt counting, and the statement.

use std::time::Instant;

use actors::{EventStore, InMemoryStore};

use super::*;
use crate::services::payments::Bounded;

const SLOW: Duration = Duration::from_millis(50);

fn provider(store: &InMemoryStore) -> SimulatedGateway {
    SimulatedGateway::new(store.records(TABLE).expect("records"), SLOW)
}

fn charge(booking: u128, method: &str) -> ChargeRequest {
    let booking_id = Uuid::from_u128(booking);
    ChargeRequest {
        key: format!("{booking_id}/charge"),
        booking_id,
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: method.to_owned(),
    }
}

fn refund_of(request: &ChargeRequest, reference: &str) -> RefundRequest {
    RefundRequest {
        key: format!("{reference}/refund"),
        booking_id: request.booking_id,
        charge_reference: reference.to_owned(),
        amount_cents: request.amount_cents,
        currency: request.currency.clone(),
    }
}

fn captured(outcome: Result<ChargeOutcome, GatewayError>) -> String {
    match outcome {
        Ok(ChargeOutcome::Captured { reference }) => reference,
        other => panic!("expected a capture, got {other:?}"),
    }
}

async fn kinds(provider: &SimulatedGateway) -> Vec<(EntryKind, String)> {
    let entries = provider.statement(None, 0, 100).await.expect("the statement");
    entries.into_iter().map(|entry| (entry.kind, entry.reference)).collect()
}

#[actix_rt::test]
async fn it_should_capture_a_charge_once_however_often_it_is_asked() {
    let store = InMemoryStore::new();
    let provider = provider(&store);
    let request = charge(1, tokens::VISA);
    let reference = captured(provider.charge(&request).await);
    assert_eq!(captured(provider.charge(&request).await), reference);
    assert_eq!(
        provider.charge_status(&request.key).await.expect("an answer"),
        Some(ChargeOutcome::Captured { reference: reference.clone() })
    );
    assert_eq!(kinds(&provider).await, [(EntryKind::Charge, reference)]);
    assert_eq!(provider.captures(), 1);
}

#[actix_rt::test]
async fn it_should_know_nothing_of_a_charge_never_requested() {
    let store = InMemoryStore::new();
    assert_eq!(provider(&store).charge_status("nothing/charge").await.expect("an answer"), None);
}

#[actix_rt::test]
async fn it_should_decline_tok_decline_and_take_nothing() {
    let store = InMemoryStore::new();
    let provider = provider(&store);
    let request = charge(1, tokens::DECLINE);
    let declined = ChargeOutcome::Declined { reason: "the card was declined".to_owned() };
    assert_eq!(provider.charge(&request).await.expect("an answer"), declined);
    assert_eq!(provider.charge_status(&request.key).await.expect("an answer"), Some(declined));
    assert_eq!(kinds(&provider).await, []);
}

#[actix_rt::test]
async fn it_should_take_the_money_of_tok_timeout_and_lose_only_the_first_answer() {
    let store = InMemoryStore::new();
    let provider = provider(&store);
    let request = charge(1, tokens::TIMEOUT);
    assert!(matches!(provider.charge(&request).await, Err(GatewayError::Timeout)), "the first answer is lost");
    let Some(ChargeOutcome::Captured { reference }) = provider.charge_status(&request.key).await.expect("an answer") else {
        panic!("the money was taken")
    };
    assert_eq!(captured(provider.charge(&request).await), reference, "a retry is answered, and charges nothing more");
    assert_eq!(kinds(&provider).await, [(EntryKind::Charge, reference)]);
}

#[actix_rt::test]
async fn it_should_refuse_the_first_three_requests_of_tok_unavailable_also_across_restarts() {
    let store = InMemoryStore::new();
    let request = charge(1, tokens::UNAVAILABLE);
    for attempt in 1..=UNAVAILABLE_ATTEMPTS {
        // A new provider on the same records each time: what a restart does.
        let outcome = provider(&store).charge(&request).await;
        assert!(matches!(outcome, Err(GatewayError::Unavailable(_))), "attempt {attempt}: {outcome:?}");
        assert_eq!(provider(&store).charge_status(&request.key).await.expect("a look-up answers"), None);
    }
    let reference = captured(provider(&store).charge(&request).await);
    assert_eq!(kinds(&provider(&store)).await, [(EntryKind::Charge, reference)]);
}

#[actix_rt::test]
async fn it_should_answer_tok_slow_after_its_delay() {
    let store = InMemoryStore::new();
    let provider = provider(&store);
    let started = Instant::now();
    captured(provider.charge(&charge(1, tokens::SLOW)).await);
    assert!(started.elapsed() >= SLOW, "answered after {:?}", started.elapsed());
}

#[actix_rt::test]
async fn it_should_give_up_on_a_call_that_takes_longer_than_the_bound() {
    let store = InMemoryStore::new();
    let bounded = Bounded::new(provider(&store), Duration::from_millis(1));
    let request = charge(1, tokens::SLOW);
    assert!(matches!(bounded.charge(&request).await, Err(GatewayError::Timeout)));
    assert!(bounded.charge_status(&request.key).await.expect("an answer").is_some(), "the money was taken all the same");
}

#[actix_rt::test]
async fn it_should_refund_a_charge_once_per_key() {
    let store = InMemoryStore::new();
    let provider = provider(&store);
    let request = charge(1, tokens::VISA);
    let reference = captured(provider.charge(&request).await);
    let refund = refund_of(&request, &reference);
    let refunded = provider.refund(&refund).await.expect("refunded");
    assert_eq!(provider.refund(&refund).await.expect("answered again"), refunded);
    assert_eq!(kinds(&provider).await, [(EntryKind::Charge, reference.clone()), (EntryKind::Refund, reference)]);
    assert_eq!(provider.refunds(), 1);
}

#[actix_rt::test]
async fn it_should_page_the_statement_oldest_first_and_filter_it_by_booking() {
    let store = InMemoryStore::new();
    let provider = provider(&store);
    let mut references = Vec::new();
    for booking in 1..=5 {
        references.push(captured(provider.charge(&charge(booking, tokens::VISA)).await));
    }
    let page = provider.statement(None, 1, 3).await.expect("a page");
    assert_eq!(page.iter().map(|entry| entry.reference.clone()).collect::<Vec<_>>(), references[1..4]);
    let third = provider.statement(Some(Uuid::from_u128(3)), 0, 10).await.expect("a page");
    assert_eq!((third.len(), third[0].reference.as_str(), third[0].amount_cents), (1, references[2].as_str(), 2_500));
    assert!(provider.statement(Some(Uuid::from_u128(3)), 1, 10).await.expect("a page").is_empty());
}

#[actix_rt::test]
async fn it_should_charge_once_when_two_requests_with_one_key_race() {
    let store = InMemoryStore::new();
    let (first, second) = (provider(&store), provider(&store));
    let request = charge(1, tokens::VISA);
    let (a, b) = futures::join!(first.charge(&request), second.charge(&request));
    let reference = captured(a);
    assert_eq!(captured(b), reference);
    assert_eq!(kinds(&first).await, [(EntryKind::Charge, reference)]);
    assert_eq!(first.captures() + second.captures(), 1, "one of them took the money");
}
