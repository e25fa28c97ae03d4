//! The `members` read model: profiles and their versions.

use uuid::Uuid;

use super::{at, created, registered, Log};
use crate::domain::member::MemberEvent;

#[actix_rt::test]
async fn it_should_show_a_registered_member_with_its_latest_profile() {
    let log = Log::start().await;
    let ada = Uuid::new_v4();
    log.member(ada, [registered(ada, "Ada")]).await;
    log.member(ada, [MemberEvent::ProfileUpdated { display_name: "Ada L.".to_owned(), city: None, updated_at: at(5) }]).await;

    let members = log.read().await.members;
    let view = members.get(ada).expect("the read model answers").expect("ada is known");
    assert_eq!(view.id, ada);
    assert_eq!(view.email, "ada@example.org");
    assert_eq!(view.display_name, "Ada L.");
    assert_eq!(view.city, None);
    assert_eq!(view.joined_at, at(0));
    assert_eq!(view.version, 2);
    assert_eq!(members.count().expect("the read model answers"), 1);
}

#[actix_rt::test]
async fn it_should_count_every_member_and_know_no_one_else() {
    let log = Log::start().await;
    for name in ["Ada", "Grace", "Edsger"] {
        let id = Uuid::new_v4();
        log.member(id, [registered(id, name)]).await;
    }
    // A course whose id collides with nothing a member could have: other streams are ignored.
    let course = Uuid::new_v4();
    log.course(course, [created(Uuid::new_v4(), "Rust", "Programming", 3)]).await;

    let members = log.read().await.members;
    assert_eq!(members.count().expect("the read model answers"), 3);
    assert_eq!(members.get(course).expect("the read model answers"), None);
}
