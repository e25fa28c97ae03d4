//! Cursors and pages, without a runtime.

use uuid::Uuid;

use crate::read_models::paging::{paginate, Cursor};
use crate::read_models::{PageRequest, QueryError};

#[test]
fn it_should_read_back_the_cursor_it_wrote_and_order_newest_first() {
    let id = Uuid::new_v4();
    let cursor = Cursor::new(42, id);
    assert_eq!(Cursor::parse(&cursor.encode()).expect("a cursor it wrote parses"), cursor);
    assert_eq!(cursor.id(), id);
    assert!(Cursor::new(43, Uuid::nil()) < Cursor::new(42, Uuid::max()), "a later position comes first");
}

#[test]
fn it_should_count_every_match_but_return_one_page() {
    let items = (1..=5).rev().map(|position| Ok::<_, QueryError>((Cursor::new(position, Uuid::nil()), position)));
    let page = paginate(items.clone(), &PageRequest::first(0)).expect("no cursor to parse");
    assert_eq!((page.items.len(), page.has_next_page, page.end_cursor, page.total_count), (0, true, None, 5));

    let after = Cursor::new(4, Uuid::nil()).encode();
    let page = paginate(items, &PageRequest::after(2, after)).expect("the cursor parses");
    assert_eq!(page.items.iter().map(|(_, position)| *position).collect::<Vec<_>>(), vec![3, 2]);
    assert_eq!((page.has_next_page, page.total_count), (true, 5));
}
