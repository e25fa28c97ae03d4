//! The `courses` read model: the catalogue, listed newest first, filtered and paged.
//!
//! Storage: `c` + id → [`CourseView`]; `n` + cursor → () lists every course newest first (by
//! the position of `CourseCreated`); `g` → the position of the last event that changed what
//! lists filter on (anything but seats).
//!
//! Lists filter a `Catalogue` held in memory: every course's filterable fields, with texts
//! lower-cased once, and a trigram index of those texts, so a text search confirms only the
//! courses holding the rarest three-byte window of the text instead of searching every course.
//! It is rebuilt from the tree only when `g` moved, so the seat changes of a busy booking flow
//! never invalidate it; a rebuilt tree reaches the same `g` for the same history, so a rebuild
//! does not either. Only a page's courses are read from the tree, so seats are always current.
//! The price: memory about the size of all titles and descriptions, plus four bytes per distinct
//! window of each course's texts for the index.
//! (Trees written before the catalogue also hold `t` + teacher + cursor keys, no longer read.)

use std::sync::Arc;

use actors::{Aggregate, EventCodec, Position, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, SubscriberError, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::paging::{paginate, Caller, Connection, Cursor, PageRequest, QueryError};
use super::reader::{id_key, index_key, TreeReader};
use super::trigrams::TrigramIndex;
pub use crate::domain::course::CourseStatus;
use crate::domain::course::{Course, CourseEvent};

/// The name this read model is registered under.
pub const NAME: &str = "courses";

const COURSE: u8 = b'c';
const NEWEST: u8 = b'n';
const LISTED_AS_OF: u8 = b'g';

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
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "super::stored_time::deserialize_option")]
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
    pub fn visible_to(&self, caller: &Caller) -> bool {
        visible(self.status, self.teacher_id, caller)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.created_position, self.id)
    }
}

/// Keeps [`CourseView`]s from the `course` streams.
#[derive(Clone, Default)]
pub struct CoursesReadModel {
    codec: EventCodec<CourseEvent>,
}

impl ReadModel for CoursesReadModel {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
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
            tx.put(vec![LISTED_AS_OF], &event.position)?;
            return tx.put(key, &view);
        }
        // The aggregate accepts nothing before `CourseCreated`, so a missing view cannot occur.
        let Some(mut view) = tx.fetch::<CourseView>(&key)? else { return Ok(()) };
        view.version = event.version;
        let seats_only = matches!(
            decoded,
            CourseEvent::SeatReserved { .. } | CourseEvent::SeatReleased { .. } | CourseEvent::SeatReservationRejected { .. }
        );
        if !seats_only {
            tx.put(vec![LISTED_AS_OF], &event.position)?;
        }
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
    pub visible_to: Caller,
}

/// What lists filter on, for every course, newest first; texts lower-cased.
struct Catalogue {
    /// The `g` value this was built at.
    as_of: Position,
    entries: Vec<CatalogueEntry>,
    /// The entries' titles and descriptions, each entry the document of its index in `entries`.
    texts: TrigramIndex,
}

impl Catalogue {
    fn new(as_of: Position, entries: Vec<CatalogueEntry>) -> Self {
        let texts = TrigramIndex::build(entries.iter().map(|entry| [entry.title.as_bytes(), entry.description.as_bytes()]));
        Self { as_of, entries, texts }
    }

    /// The entries that may match `matcher`, in list order: those whose texts hold the rarest
    /// window of its text when it has one long enough to look up, else all.
    fn candidates<'c>(&'c self, matcher: &Matcher<'_>) -> Box<dyn Iterator<Item = &'c CatalogueEntry> + 'c> {
        match matcher.text.as_ref().and_then(|text| self.texts.candidates(text.needle())) {
            Some(found) => Box::new(found.iter().map(|&at| &self.entries[at as usize])),
            None => Box::new(self.entries.iter()),
        }
    }
}

struct CatalogueEntry {
    cursor: Cursor,
    teacher_id: Uuid,
    status: CourseStatus,
    category: String,
    city: Option<String>,
    title: String,
    description: String,
}

impl CatalogueEntry {
    fn new(cursor: Cursor, course: &CourseView) -> Self {
        Self {
            cursor,
            teacher_id: course.teacher_id,
            status: course.status,
            category: course.category.to_lowercase(),
            city: course.city.as_deref().map(str::to_lowercase),
            title: course.title.to_lowercase(),
            description: course.description.to_lowercase(),
        }
    }
}

fn visible(status: CourseStatus, teacher_id: Uuid, caller: &Caller) -> bool {
    match (status, caller) {
        (CourseStatus::Draft, Caller::Admin) => true,
        (CourseStatus::Draft, Caller::Member(member)) => *member == teacher_id,
        (CourseStatus::Draft, Caller::Anonymous) => false,
        (CourseStatus::Published | CourseStatus::Archived, _) => true,
    }
}

/// A [`CourseFilter`] with its texts lower-cased once for the whole list.
struct Matcher<'a> {
    filter: &'a CourseFilter,
    category: Option<String>,
    city: Option<String>,
    /// The lower-cased text, searched for in every course's title and description.
    text: Option<memchr::memmem::Finder<'static>>,
}

impl<'a> Matcher<'a> {
    fn new(filter: &'a CourseFilter) -> Self {
        let lower = |text: &Option<String>| text.as_deref().map(|t| t.trim().to_lowercase());
        // A searcher built once per list (SIMD where the CPU has it) instead of `str::contains`
        // setting one up for each of the catalogue's texts.
        let text = lower(&filter.text).map(|text| memchr::memmem::Finder::new(text.as_bytes()).into_owned());
        Self { category: lower(&filter.category), city: lower(&filter.city), text, filter }
    }

    fn matches(&self, course: &CatalogueEntry) -> bool {
        let filter = self.filter;
        visible(course.status, course.teacher_id, &filter.visible_to)
            && filter.status.is_none_or(|status| status == course.status)
            && filter.teacher_id.is_none_or(|teacher| teacher == course.teacher_id)
            && self.category.as_ref().is_none_or(|category| course.category == *category)
            && self.city.as_ref().is_none_or(|city| course.city.as_ref() == Some(city))
            && self
                .text
                .as_ref()
                .is_none_or(|text| text.find(course.title.as_bytes()).is_some() || text.find(course.description.as_bytes()).is_some())
    }
}

/// Queries over the `courses` read model.
#[derive(Clone)]
pub struct CoursesQuery {
    handle: ReadModelHandle,
    catalogue: Arc<parking_lot::RwLock<Option<Arc<Catalogue>>>>,
}

impl CoursesQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle, catalogue: Arc::default() }
    }

    /// The course, whoever may see it: the caller checks [`CourseView::visible_to`].
    pub fn get(&self, id: Uuid) -> Result<Option<Arc<CourseView>>, QueryError> {
        Ok(self.handle.fetch_shared(&id_key(COURSE, id))?)
    }

    /// The courses matching `filter`, newest first, one page of them.
    pub fn list(&self, filter: &CourseFilter, page: &PageRequest) -> Result<Connection<Arc<CourseView>>, QueryError> {
        let catalogue = self.catalogue()?;
        let matcher = Matcher::new(filter);
        let matches =
            catalogue.candidates(&matcher).filter(|entry| matcher.matches(entry)).map(|entry| Ok((entry.cursor, entry.cursor.id())));
        let page = paginate(matches, page)?;
        // Only the page's courses are read, so their seats are as current as the tree.
        let mut items = Vec::with_capacity(page.items.len());
        for (cursor, id) in page.items {
            if let Some(course) = self.get(id)? {
                items.push((cursor, course));
            }
        }
        Ok(Connection { items, has_next_page: page.has_next_page, end_cursor: page.end_cursor, total_count: page.total_count })
    }

    /// The catalogue as of the tree's `g`, rebuilt from the tree when that moved.
    fn catalogue(&self) -> Result<Arc<Catalogue>, QueryError> {
        let as_of: Position = self.handle.fetch_shared::<Position>(&[LISTED_AS_OF])?.map_or(0, |as_of| *as_of);
        if let Some(catalogue) = self.catalogue.read().as_ref().filter(|catalogue| catalogue.as_of == as_of) {
            return Ok(catalogue.clone());
        }
        // Built from a tree read after `as_of`: at worst newer than its label, and then the
        // next list sees the newer `g` and builds again.
        let reader = TreeReader::open(&self.handle);
        let entries = reader
            .scan_views_passing::<CourseView>(&[NEWEST], COURSE)
            .map(|entry| entry.map(|(cursor, course)| CatalogueEntry::new(cursor, &course)))
            .collect::<Result<Vec<_>, _>>()?;
        let catalogue = Arc::new(Catalogue::new(as_of, entries));
        *self.catalogue.write() = Some(catalogue.clone());
        Ok(catalogue)
    }
}
