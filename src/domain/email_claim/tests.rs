//! Given/when/then tests of the e-mail claim aggregate.

use actors::testing::AggregateTest;
use uuid::Uuid;

use super::*;
use crate::domain::testing::assert_round_trips;

const ADA: Uuid = Uuid::from_u128(1);
const BOB: Uuid = Uuid::from_u128(2);

fn claimed() -> EmailClaimEvent {
    EmailClaimEvent::EmailClaimed { member_id: ADA, email: "ada@example.org".into() }
}

#[test]
fn it_should_claim_a_free_address() {
    AggregateTest::<EmailClaim>::given_no_previous_events()
        .when(ClaimEmail { member_id: ADA, email: "Ada@Example.org".into() })
        .then_expect_events([claimed()]);
}

#[test]
fn it_should_record_nothing_when_the_same_member_claims_again() {
    AggregateTest::<EmailClaim>::given([claimed()])
        .when(ClaimEmail { member_id: ADA, email: "ada@example.org".into() })
        .then_expect_events([]);
}

#[test]
fn it_should_not_claim_an_address_taken_by_another_member() {
    AggregateTest::<EmailClaim>::given([claimed()])
        .when(ClaimEmail { member_id: BOB, email: "ADA@example.org".into() })
        .then_expect_error(EmailClaimError::EmailTaken);
}

#[test]
fn it_should_not_claim_a_malformed_address() {
    AggregateTest::<EmailClaim>::given_no_previous_events()
        .when(ClaimEmail { member_id: ADA, email: "ada@".into() })
        .then_expect_error(EmailClaimError::Invalid(ValueError::Email("ada@".into())));
}

#[test]
fn it_should_round_trip_its_events() {
    assert_round_trips(&[claimed()]);
    assert_eq!(EmailClaimError::EmailTaken.kind(), RefusalKind::AlreadyExists);
}
