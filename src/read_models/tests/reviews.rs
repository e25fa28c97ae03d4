//! The `reviews` read model: a course's reviews newest first, each review as edited, the rating.

use uuid::Uuid;

use super::{at, Log};
use crate::domain::review::ReviewEvent;
use crate::read_models::PageRequest;

fn written(booking_id: Uuid, course_id: Uuid, author_id: Uuid, rating: u8) -> ReviewEvent {
    ReviewEvent::ReviewWritten { booking_id, course_id, author_id, rating, comment: format!("{rating} stars"), written_at: at(7) }
}

#[actix_rt::test]
async fn it_should_list_a_courses_reviews_newest_first_and_rate_the_course() {
    let log = Log::start().await;
    let (course, other_course) = (Uuid::new_v4(), Uuid::new_v4());
    let (first, second, elsewhere) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    log.review(first, [written(Uuid::new_v4(), course, Uuid::new_v4(), 5)]).await;
    log.review(elsewhere, [written(Uuid::new_v4(), other_course, Uuid::new_v4(), 1)]).await;
    log.review(second, [written(Uuid::new_v4(), course, Uuid::new_v4(), 2)]).await;

    let reviews = log.read().await.reviews;
    let page = reviews.of_course(course, &PageRequest::first(10)).expect("the read model answers");
    let ids: Vec<Uuid> = page.items.iter().map(|(_, review)| review.id).collect();
    assert_eq!((ids, page.total_count, page.has_next_page), (vec![second, first], 2, false));
    let rating = reviews.rating(course).expect("the read model answers");
    assert_eq!((rating.count, rating.mean()), (2, Some(3.5)));

    let next = reviews.of_course(course, &PageRequest::after(1, page.items[0].0.clone())).expect("the read model answers");
    assert_eq!(next.items.iter().map(|(_, review)| review.id).collect::<Vec<_>>(), [first]);
}

#[actix_rt::test]
async fn it_should_show_an_edited_review_and_rate_by_its_new_stars() {
    let log = Log::start().await;
    let (course, review) = (Uuid::new_v4(), Uuid::new_v4());
    log.review(review, [written(Uuid::new_v4(), course, Uuid::new_v4(), 5)]).await;
    log.review(review, [ReviewEvent::ReviewUpdated { rating: 3, comment: "Edited".into(), updated_at: at(8) }]).await;

    let reviews = log.read().await.reviews;
    let view = reviews.get(review).expect("the read model answers").expect("the review is known");
    assert_eq!((view.rating, view.comment.as_str(), view.created_at, view.updated_at, view.version), (3, "Edited", at(7), at(8), 2));
    assert_eq!(reviews.rating(course).expect("the read model answers").mean(), Some(3.0));
}

#[actix_rt::test]
async fn it_should_rate_a_course_without_reviews_as_nothing() {
    let log = Log::start().await;
    let rating = log.read().await.reviews.rating(Uuid::new_v4()).expect("the read model answers");
    assert_eq!((rating.count, rating.mean()), (0, None));
}
