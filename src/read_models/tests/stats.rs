//! The `stats` read model: what is true now, also when it is added to a database with a history.

use uuid::Uuid;

use super::{at, cancelled, confirmed_booking, created, published, refunded, registered, Log};
use crate::domain::course::CourseEvent;
use crate::read_models::{CourseBookings, Money, StatsView};

/// Two members, three courses (one archived after publishing), four bookings confirmed of
/// which one is cancelled and refunded afterwards, and a payment in another currency.
async fn history(log: &Log) -> (Uuid, Uuid, Uuid) {
    let (ada, grace) = (Uuid::new_v4(), Uuid::new_v4());
    log.member(ada, [registered(ada, "Ada")]).await;
    log.member(grace, [registered(grace, "Grace")]).await;
    let (rust, piano, cobol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    log.course(rust, [created(ada, "Rust", "Programming", 9), published()]).await;
    log.course(piano, [created(ada, "Piano", "Music", 9), published()]).await;
    log.course(cobol, [created(ada, "COBOL", "Programming", 9), published(), CourseEvent::CourseArchived { archived_at: at(3) }]).await;
    confirmed_booking(log, rust, grace, ada).await;
    confirmed_booking(log, rust, grace, ada).await;
    confirmed_booking(log, piano, grace, ada).await;
    let dropped = confirmed_booking(log, cobol, grace, ada).await;
    log.booking(dropped, [cancelled(cobol, None, true)]).await;
    log.payment(dropped, [refunded(dropped, 2500, "EUR")]).await;
    let usd = Uuid::new_v4();
    log.payment(usd, [super::captured(usd, 1000, "USD")]).await;
    (rust, piano, cobol)
}

fn expected_stats() -> StatsView {
    StatsView {
        members: 2,
        courses_published: 2,
        bookings_confirmed: 3,
        bookings_cancelled: 1,
        revenue: vec![Money { amount_cents: 7500, currency: "EUR".to_owned() }, Money { amount_cents: 1000, currency: "USD".to_owned() }],
    }
}

#[actix_rt::test]
async fn it_should_count_what_is_true_now() {
    let log = Log::start().await;
    let (rust, piano, _cobol) = history(&log).await;
    let stats = log.read().await.stats;

    assert_eq!(stats.get().expect("the read model answers"), expected_stats());
    let top = stats.top_courses(5).expect("the read model answers");
    let expected =
        vec![CourseBookings { course_id: rust, confirmed_bookings: 2 }, CourseBookings { course_id: piano, confirmed_bookings: 1 }];
    assert_eq!(top, expected, "most first, and the course whose only booking was cancelled is left out");
    assert_eq!(stats.top_courses(1).expect("the read model answers"), expected[..1].to_vec());
}

#[actix_rt::test]
async fn it_should_rank_ties_by_course_id() {
    let log = Log::start().await;
    let teacher = Uuid::new_v4();
    let mut courses = vec![Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    for course in &courses {
        log.course(*course, [created(teacher, "Yoga", "Sport", 9), published()]).await;
        confirmed_booking(&log, *course, Uuid::new_v4(), teacher).await;
    }
    courses.sort();
    let top = log.read().await.stats.top_courses(5).expect("the read model answers");
    assert_eq!(top.iter().map(|ranked| ranked.course_id).collect::<Vec<_>>(), courses);
}

#[actix_rt::test]
async fn it_should_backfill_from_the_whole_history() {
    let mut log = Log::start_without_models().await;
    let (rust, _, _) = history(&log).await;
    log.add_read_models().await;

    let stats = log.read().await.stats;
    assert_eq!(stats.get().expect("the read model answers"), expected_stats());
    assert_eq!(stats.top_courses(1).expect("the read model answers"), vec![CourseBookings { course_id: rust, confirmed_bookings: 2 }]);
}
