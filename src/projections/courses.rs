//! The `courses` read model: the catalogue, listed newest first, filtered and paged.
//!
//! Storage: `c` + id → [`CourseView`]; `n` + cursor → () lists every course newest first (by
//! the position of `CourseCreated`); `t` + teacher + cursor → () lists a teacher's courses.
//! A `teacher_id` filter walks the teacher index only; every other filter walks the whole
//! primary index and tests each course, which also gives `total_count` for free.

use actors::{Aggregate, EventCodec, Position, ProjectionError, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::paging::{paginate, Connection, Cursor, PageRequest, QueryError, Viewer};
use super::reader::{id_key, index_key, TreeReader};
pub use crate::domain::course::CourseStatus;
use crate::domain::course::{Course, CourseEvent};

/// The name this read model is registered under.
pub const NAME: &str = "courses";

const COURSE: u8 = b'c';
const NEWEST: u8 = b'n';
const BY_TEACHER: u8 = b't';

/// A course as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseView {
    pub id: Uuid,
    pub teacher_id: Uuid,
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: u32,
    pub seats_taken: u32,
    pub status: CourseStatus,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// The course stream's version after the last event applied here.
    pub version: Version,
    /// The global position of `CourseCreated`: the course's place in newest-first lists.
    pub created_position: Position,
}

impl CourseView {
    /// Never negative, also when the teacher lowered the capacity below the seats taken.
    pub fn seats_available(&self) -> u32 {
        self.capacity.saturating_sub(self.seats_taken)
    }

    /// Drafts are seen by their teacher and the admin only; published and archived courses by anyone.
    pub fn visible_to(&self, viewer: &Viewer) -> bool {
        match (self.status, viewer) {
            (CourseStatus::Draft, Viewer::Admin) => true,
            (CourseStatus::Draft, Viewer::Member(member)) => *member == self.teacher_id,
            (CourseStatus::Draft, Viewer::Anonymous) => false,
            (CourseStatus::Published | CourseStatus::Archived, _) => true,
        }
    }

    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.created_position, self.id)
    }
}

/// Keeps [`CourseView`]s from the `course` streams.
#[derive(Clone, Default)]
pub struct CoursesProjection {
    codec: EventCodec<CourseEvent>,
}

impl ReadModel for CoursesProjection {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.stream.aggregate_type != Course::TYPE {
            return Ok(());
        }
        let id = event.stream.aggregate_id;
        let key = id_key(COURSE, id);
        let decoded = self.codec.decode(event)?;
        if let CourseEvent::CourseCreated { teacher_id, title, description, category, city, price_cents, currency, capacity, created_at } =
            decoded
        {
            let view = CourseView {
                id,
                teacher_id,
                title,
                description,
                category,
                city,
                price_cents,
                currency,
                capacity,
                seats_taken: 0,
                status: CourseStatus::Draft,
                created_at,
                published_at: None,
                version: event.version,
                created_position: event.position,
            };
            let cursor = view.cursor();
            tx.insert(index_key(NEWEST, None, &cursor), Vec::new())?;
            tx.insert(index_key(BY_TEACHER, Some(teacher_id), &cursor), Vec::new())?;
            return tx.put(key, &view);
        }
        // The aggregate accepts nothing before `CourseCreated`, so a missing view cannot occur.
        let Some(mut view) = tx.fetch::<CourseView>(&key)? else { return Ok(()) };
        view.version = event.version;
        match decoded {
            CourseEvent::CourseCreated { .. } => {}
            CourseEvent::CourseUpdated { title, description, category, city, price_cents, capacity, .. } => {
                view = CourseView { title, description, category, city, price_cents, capacity, ..view };
            }
            CourseEvent::CoursePublished { published_at } => {
                view.status = CourseStatus::Published;
                view.published_at = Some(published_at);
            }
            CourseEvent::CourseArchived { .. } => view.status = CourseStatus::Archived,
            // The course emits these only when a seat really changes hands, so counting is exact.
            CourseEvent::SeatReserved { .. } => view.seats_taken = view.seats_taken.saturating_add(1),
            CourseEvent::SeatReleased { .. } => view.seats_taken = view.seats_taken.saturating_sub(1),
            CourseEvent::SeatReservationRejected { .. } => {}
        }
        tx.put(key, &view)
    }
}

/// Which courses a list shows. Text filters compare case-insensitively; `None` matches all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CourseFilter {
    pub status: Option<CourseStatus>,
    pub teacher_id: Option<Uuid>,
    /// Equal to the course's category, ignoring case.
    pub category: Option<String>,
    /// Equal to the course's city, ignoring case.
    pub city: Option<String>,
    /// A substring of the title or of the description, ignoring case.
    pub text: Option<String>,
    pub visible_to: Viewer,
}

/// A [`CourseFilter`] with its texts lower-cased once for the whole scan.
struct Matcher {
    filter: CourseFilter,
    category: Option<String>,
    city: Option<String>,
    text: Option<String>,
}

impl Matcher {
    fn new(filter: &CourseFilter) -> Self {
        let lower = |text: &Option<String>| text.as_deref().map(|t| t.trim().to_lowercase());
        Self { category: lower(&filter.category), city: lower(&filter.city), text: lower(&filter.text), filter: filter.clone() }
    }

    fn matches(&self, course: &CourseView) -> bool {
        let filter = &self.filter;
        course.visible_to(&filter.visible_to)
            && filter.status.is_none_or(|status| status == course.status)
            && filter.teacher_id.is_none_or(|teacher| teacher == course.teacher_id)
            && self.category.as_ref().is_none_or(|category| course.category.to_lowercase() == *category)
            && self.city.as_ref().is_none_or(|city| course.city.as_ref().is_some_and(|c| c.to_lowercase() == *city))
            && self.text.as_ref().is_none_or(|text| {
                course.title.to_lowercase().contains(text.as_str()) || course.description.to_lowercase().contains(text.as_str())
            })
    }
}

/// Queries over the `courses` read model.
#[derive(Clone)]
pub struct CoursesQuery {
    handle: ReadModelHandle,
}

impl CoursesQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle }
    }

    /// The course, whoever may see it: the caller checks [`CourseView::visible_to`].
    pub fn get(&self, id: Uuid) -> Result<Option<CourseView>, QueryError> {
        Ok(self.handle.fetch(&id_key(COURSE, id))?)
    }

    /// The courses matching `filter`, newest first, one page of them.
    pub fn list(&self, filter: &CourseFilter, page: &PageRequest) -> Result<Connection<CourseView>, QueryError> {
        let reader = TreeReader::open(&self.handle);
        let prefix = match filter.teacher_id {
            Some(teacher) => id_key(BY_TEACHER, teacher),
            None => vec![NEWEST],
        };
        let matcher = Matcher::new(filter);
        let matches = reader
            .scan_views::<CourseView>(&prefix, COURSE)
            .filter(|entry| entry.as_ref().map_or(true, |(_, course)| matcher.matches(course)));
        paginate(matches, page)
    }
}
