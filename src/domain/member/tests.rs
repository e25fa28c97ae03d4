//! Given/when/then tests of the member aggregate.

use actors::testing::AggregateTest;
use uuid::Uuid;

use super::*;
use crate::domain::testing::{assert_round_trips, at};
use crate::domain::values::Field;

const ADA: Uuid = Uuid::from_u128(1);
const BOB: Uuid = Uuid::from_u128(2);

fn registered() -> MemberEvent {
    MemberEvent::MemberRegistered {
        member_id: ADA,
        email: "ada@example.org".into(),
        display_name: "Ada".into(),
        city: Some("Utrecht".into()),
        joined_at: at(0),
    }
}

fn register() -> RegisterMember {
    RegisterMember {
        member_id: ADA,
        email: " Ada@Example.org ".into(),
        display_name: " Ada ".into(),
        city: Some("Utrecht".into()),
        registered_at: at(0),
    }
}

fn update() -> UpdateProfile {
    UpdateProfile { member_id: ADA, display_name: None, city: None, at: at(5) }
}

#[test]
fn it_should_register_a_member_with_a_normalized_email() {
    AggregateTest::<Member>::given_no_previous_events().when(register().into()).then_expect_events([registered()]);
}

#[test]
fn it_should_not_register_with_a_malformed_email() {
    AggregateTest::<Member>::given_no_previous_events()
        .when(RegisterMember { email: "ada.example.org".into(), ..register() }.into())
        .then_expect_error(MemberError::Invalid(ValueError::Email("ada.example.org".into())));
}

#[test]
fn it_should_not_register_with_an_empty_display_name() {
    AggregateTest::<Member>::given_no_previous_events()
        .when(RegisterMember { display_name: " ".into(), ..register() }.into())
        .then_expect_error(MemberError::Invalid(ValueError::Empty(Field::DisplayName)));
}

#[test]
fn it_should_not_register_twice() {
    AggregateTest::<Member>::given([registered()]).when(register().into()).then_expect_error(MemberError::AlreadyRegistered);
}

#[test]
fn it_should_update_the_profile() {
    AggregateTest::<Member>::given([registered()])
        .when(UpdateProfile { display_name: Some("Ada L.".into()), city: Some(None), ..update() }.into())
        .then_expect_events([MemberEvent::ProfileUpdated { display_name: "Ada L.".into(), city: None, updated_at: at(5) }]);
}

#[test]
fn it_should_record_nothing_when_the_profile_does_not_change() {
    AggregateTest::<Member>::given([registered()])
        .when(UpdateProfile { display_name: Some("Ada".into()), city: Some(Some("Utrecht".into())), ..update() }.into())
        .then_expect_events([]);
}

#[test]
fn it_should_not_update_someone_elses_profile() {
    AggregateTest::<Member>::given([registered()])
        .when(UpdateProfile { member_id: BOB, display_name: Some("Bob".into()), ..update() }.into())
        .then_expect_error(MemberError::NotYourProfile);
}

#[test]
fn it_should_not_update_an_unregistered_member() {
    AggregateTest::<Member>::given_no_previous_events().when(update().into()).then_expect_error(MemberError::NotFound);
}

#[test]
fn it_should_not_update_to_an_empty_city() {
    AggregateTest::<Member>::given([registered()])
        .when(UpdateProfile { city: Some(Some("".into())), ..update() }.into())
        .then_expect_error(MemberError::Invalid(ValueError::Empty(Field::City)));
}

#[test]
fn it_should_show_the_updated_profile_in_its_state() {
    let state =
        Member::replay(&[registered(), MemberEvent::ProfileUpdated { display_name: "Ada L.".into(), city: None, updated_at: at(5) }]);
    let member = state.expect("a registered member");
    assert_eq!((member.display_name.as_str(), member.city, member.updated_at), ("Ada L.", None, at(5)));
    assert_eq!(member.joined_at, at(0));
}

#[test]
fn it_should_round_trip_its_events() {
    assert_round_trips(&[registered(), MemberEvent::ProfileUpdated { display_name: "Ada".into(), city: None, updated_at: at(1) }]);
}

#[test]
fn it_should_map_refusals_to_kinds() {
    assert_eq!(MemberError::NotYourProfile.kind(), RefusalKind::Forbidden);
    assert_eq!(MemberError::AlreadyRegistered.kind(), RefusalKind::AlreadyExists);
    assert_eq!(MemberError::NotFound.kind(), RefusalKind::NotFound);
}
