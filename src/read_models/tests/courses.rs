//! The `courses` read model: a course's life, and lists filtered, paged and hidden as the contract says.

use std::sync::Arc;

use uuid::Uuid;

use super::{at, created, published, seat_reserved, Log};
use crate::domain::course::CourseEvent;
use crate::read_models::courses::CourseStatus;
use crate::read_models::{Caller, CourseFilter, CourseView, PageRequest, QueryError};

fn titles(items: &[(String, Arc<CourseView>)]) -> Vec<&str> {
    items.iter().map(|(_, course)| course.title.as_str()).collect()
}

#[actix_rt::test]
async fn it_should_follow_a_course_through_its_life() {
    let log = Log::start().await;
    let (course, teacher) = (Uuid::new_v4(), Uuid::new_v4());
    let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
    log.course(course, [created(teacher, "Rust", "Programming", 2)]).await;
    log.course(
        course,
        [
            CourseEvent::CourseUpdated {
                title: "Rust for beginners".to_owned(),
                description: "Ownership and borrowing".to_owned(),
                category: "Programming".to_owned(),
                city: None,
                price_cents: 3000,
                capacity: 3,
                updated_at: at(2),
            },
            published(),
            seat_reserved(one, Uuid::new_v4()),
            seat_reserved(two, Uuid::new_v4()),
            CourseEvent::SeatReleased { booking_id: one, released_at: at(6) },
        ],
    )
    .await;

    let view = log.read().await.courses.get(course).expect("the read model answers").expect("the course is known");
    assert_eq!((view.id, view.teacher_id), (course, teacher));
    assert_eq!((view.title.as_str(), view.city.as_deref(), view.price_cents), ("Rust for beginners", None, 3000));
    assert_eq!((view.capacity, view.seats_taken, view.seats_available()), (3, 1, 2));
    assert_eq!((view.status, view.published_at, view.created_at), (CourseStatus::Published, Some(at(2)), at(1)));
    assert_eq!(view.version, 6);
}

#[actix_rt::test]
async fn it_should_list_newest_first_in_pages() {
    let log = Log::start().await;
    let teacher = Uuid::new_v4();
    for title in ["A", "B", "C", "D", "E"] {
        log.course(Uuid::new_v4(), [created(teacher, title, "Music", 5), published()]).await;
    }
    let courses = log.read().await.courses;
    let filter = CourseFilter::default();

    let first = courses.list(&filter, &PageRequest::first(2)).expect("the read model answers");
    assert_eq!((titles(&first.items), first.has_next_page, first.total_count), (vec!["E", "D"], true, 5));
    let end = first.end_cursor.expect("a non-empty page has an end cursor");
    let second = courses.list(&filter, &PageRequest::after(2, end)).expect("the read model answers");
    assert_eq!((titles(&second.items), second.has_next_page, second.total_count), (vec!["C", "B"], true, 5));
    let end = second.end_cursor.expect("a non-empty page has an end cursor");
    let last = courses.list(&filter, &PageRequest::after(2, end)).expect("the read model answers");
    assert_eq!((titles(&last.items), last.has_next_page), (vec!["A"], false));
    assert_eq!(last.end_cursor.as_deref(), Some(last.items[0].0.as_str()));
}

#[actix_rt::test]
async fn it_should_filter_by_teacher_status_category_city_and_text_ignoring_case() {
    let log = Log::start().await;
    let (ada, grace) = (Uuid::new_v4(), Uuid::new_v4());
    log.course(Uuid::new_v4(), [created(ada, "Rust", "Programming", 5), published()]).await;
    log.course(Uuid::new_v4(), [created(ada, "Piano", "Music", 5), published()]).await;
    log.course(
        Uuid::new_v4(),
        [created(grace, "COBOL", "programming", 5), published(), CourseEvent::CourseArchived { archived_at: at(3) }],
    )
    .await;
    let courses = log.read().await.courses;
    let list = |filter: CourseFilter| courses.list(&filter, &PageRequest::first(10)).expect("the read model answers");

    assert_eq!(titles(&list(CourseFilter { teacher_id: Some(ada), ..CourseFilter::default() }).items), vec!["Piano", "Rust"]);
    let programming = list(CourseFilter { category: Some("PROGRAMMING".to_owned()), ..CourseFilter::default() });
    assert_eq!((titles(&programming.items), programming.total_count), (vec!["COBOL", "Rust"], 2));
    let archived = list(CourseFilter { status: Some(CourseStatus::Archived), ..CourseFilter::default() });
    assert_eq!(titles(&archived.items), vec!["COBOL"]);
    assert_eq!(titles(&list(CourseFilter { city: Some("amsterdam".to_owned()), ..CourseFilter::default() }).items).len(), 3);
    assert_eq!(titles(&list(CourseFilter { city: Some("Utrecht".to_owned()), ..CourseFilter::default() }).items), Vec::<&str>::new());
    // "learn piano with us" is the description: the text matches it too.
    assert_eq!(titles(&list(CourseFilter { text: Some("LEARN PIANO".to_owned()), ..CourseFilter::default() }).items), vec!["Piano"]);
    let both = list(CourseFilter { teacher_id: Some(ada), text: Some("rus".to_owned()), ..CourseFilter::default() });
    assert_eq!((titles(&both.items), both.total_count), (vec!["Rust"], 1));
    // Texts too short for the catalogue's trigram index search every course, as longer ones do.
    let text = |text: &str| titles(&list(CourseFilter { text: Some(text.to_owned()), ..CourseFilter::default() }).items).len();
    assert_eq!((text("o"), text("ob"), text("obo"), text(" "), text("")), (2, 1, 1, 3, 3));
}

#[actix_rt::test]
async fn it_should_show_drafts_only_to_their_teacher_and_the_admin() {
    let log = Log::start().await;
    let (ada, grace) = (Uuid::new_v4(), Uuid::new_v4());
    log.course(Uuid::new_v4(), [created(ada, "Ada's draft", "Math", 5)]).await;
    log.course(Uuid::new_v4(), [created(grace, "Grace's draft", "Math", 5)]).await;
    log.course(Uuid::new_v4(), [created(grace, "Published", "Math", 5), published()]).await;
    let courses = log.read().await.courses;
    let seen_by = |caller: Caller| {
        let filter = CourseFilter { visible_to: caller, ..CourseFilter::default() };
        let page = courses.list(&filter, &PageRequest::first(10)).expect("the read model answers");
        assert_eq!(page.total_count, page.items.len());
        page.items.into_iter().map(|(_, course)| course.title.clone()).collect::<Vec<_>>()
    };

    assert_eq!(seen_by(Caller::Anonymous), vec!["Published"]);
    assert_eq!(seen_by(Caller::Member(ada)), vec!["Published", "Ada's draft"]);
    assert_eq!(seen_by(Caller::Admin), vec!["Published", "Grace's draft", "Ada's draft"]);
}

#[actix_rt::test]
async fn it_should_refuse_a_malformed_cursor() {
    let log = Log::start().await;
    let courses = log.read().await.courses;
    for cursor in ["", "not a cursor", "zz", &"g".repeat(48)] {
        let answer = courses.list(&CourseFilter::default(), &PageRequest::after(5, cursor));
        assert!(matches!(answer, Err(QueryError::BadCursor)), "{cursor:?}: {answer:?}");
    }
}

#[actix_rt::test]
async fn it_should_list_what_changed_since_the_last_list_from_the_same_query() {
    let log = Log::start().await;
    let (course, teacher) = (Uuid::new_v4(), Uuid::new_v4());
    log.course(course, [created(teacher, "Rust", "Programming", 2), published()]).await;
    let courses = log.read().await.courses;
    let search = |text: &str| CourseFilter { text: Some(text.to_owned()), ..CourseFilter::default() };
    let listed = courses.list(&search("rust"), &PageRequest::first(10)).expect("the read model answers");
    assert_eq!((titles(&listed.items), listed.items[0].1.seats_taken), (vec!["Rust"], 0));

    // A seat taken: the same query shows it, though nothing a list filters on changed.
    log.course(course, [seat_reserved(Uuid::new_v4(), Uuid::new_v4())]).await;
    log.read().await;
    let listed = courses.list(&search("rust"), &PageRequest::first(10)).expect("the read model answers");
    assert_eq!(listed.items[0].1.seats_taken, 1);

    // A new title: the old one no longer matches, the new one does.
    let update = CourseEvent::CourseUpdated {
        title: "Piano".to_owned(),
        description: "Scales\nand chords".to_owned(),
        category: "Music".to_owned(),
        city: None,
        price_cents: 100,
        capacity: 2,
        updated_at: at(5),
    };
    log.course(course, [update]).await;
    log.read().await;
    assert_eq!(titles(&courses.list(&search("scales"), &PageRequest::first(10)).expect("the read model answers").items), vec!["Piano"]);
    // Title and description are searched apart; a line break in the text still finds one in either.
    let found = |text: &str| titles(&courses.list(&search(text), &PageRequest::first(10)).expect("the read model answers").items).len();
    assert_eq!((found("piano\nscales"), found("o\ns"), found("scales\nand")), (0, 0, 1));

    // A new course: listed as well.
    log.course(Uuid::new_v4(), [created(teacher, "Rust again", "Programming", 2), published()]).await;
    log.read().await;
    assert_eq!(titles(&courses.list(&search("RUST"), &PageRequest::first(10)).expect("the read model answers").items), vec!["Rust again"]);
}
