//! Property tests of the decoders that take bytes from outside: a backup's NDJSON lines and the
//! cursors clients send back. Whatever comes in, they answer a typed error, never a panic.

use actors::{RecordedEvent, StreamId};
use chrono::{DateTime, Utc};
use konnektid::cli::{read_backup, write_backup_line, BackupError};
use konnektid::read_models::{Cursor, QueryError};
use proptest::prelude::*;
use serde_json::Value;
use uuid::Uuid;

/// A well-formed backup line of the first event of a log.
fn valid_line() -> Vec<u8> {
    let event = RecordedEvent {
        position: 1,
        stream: StreamId::new("course", Uuid::from_u128(7)),
        version: 1,
        event_id: Uuid::from_u128(8),
        event_type: "CourseCreated".to_owned(),
        schema_version: 1,
        payload: vec![1, 2, 3],
        recorded_at: DateTime::<Utc>::from_timestamp(1_790_000_000, 5).expect("a time"),
        correlation_id: Uuid::from_u128(9),
        causation_id: None,
        metadata: Default::default(),
    };
    let mut line = Vec::new();
    write_backup_line(&mut line, &event).expect("written");
    line
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..4).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// What the decoder answered is a value, never a panic; a refusal names a line.
fn assert_decoded(bytes: &[u8]) -> Result<(), TestCaseError> {
    match read_backup(bytes, |_| {}) {
        Ok(events) => prop_assert!(events.iter().enumerate().all(|(index, event)| event.position == index as u64 + 1)),
        Err(BackupError::Invalid { line, problem }) => prop_assert!(line >= 1 && !problem.to_string().is_empty()),
        Err(BackupError::Io(error)) => prop_assert!(false, "reading bytes in memory cannot fail: {error}"),
    }
    Ok(())
}

proptest! {
    #[test]
    fn a_backup_of_arbitrary_bytes_is_refused_with_a_reason(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        assert_decoded(&bytes)?;
    }

    #[test]
    fn a_backup_line_with_any_field_replaced_by_any_json_is_decoded_or_refused(field in 0usize..12, value in json_value()) {
        let mut line: serde_json::Map<String, Value> = serde_json::from_slice(&valid_line()).expect("a JSON object");
        let key = line.keys().nth(field % line.len()).expect("a key").clone();
        line.insert(key, value);
        let mut bytes = serde_json::to_vec(&line).expect("JSON");
        bytes.push(b'\n');
        assert_decoded(&bytes)?;
    }

    #[test]
    fn a_backup_line_cut_or_changed_anywhere_is_decoded_or_refused(cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let line = valid_line();
        assert_decoded(&line[..cut.index(line.len())])?;
        let mut changed = line.clone();
        changed[flip.0.index(line.len())] = flip.1;
        assert_decoded(&changed)?;
    }

    #[test]
    fn a_cursor_of_any_text_is_refused_as_a_bad_cursor(text in prop_oneof![".{0,64}", "[0-9a-fA-F]{40,56}", "[0-9a-fA-F+ -]{48}"]) {
        match Cursor::parse(&text) {
            Ok(cursor) => prop_assert_eq!(cursor.encode(), text.to_lowercase(), "only what encode writes is a cursor"),
            Err(error) => prop_assert!(matches!(error, QueryError::BadCursor), "{error}"),
        }
    }

    #[test]
    fn a_cursor_changed_in_one_character_is_a_cursor_only_while_it_is_hex(position in any::<u64>(), id in any::<u128>(), at in 0usize..48, to in "[ -~]") {
        let mut text: Vec<char> = Cursor::new(position, Uuid::from_u128(id)).encode().chars().collect();
        text[at] = to.chars().next().expect("a character");
        let text: String = text.into_iter().collect();
        match Cursor::parse(&text) {
            Ok(cursor) => prop_assert_eq!(cursor.encode(), text.to_lowercase()),
            Err(error) => {
                prop_assert!(!text.chars().all(|c| c.is_ascii_hexdigit()), "{text} is a cursor's hex, refused: {error}");
                prop_assert!(matches!(error, QueryError::BadCursor));
            }
        }
    }
}

#[test]
fn a_cursor_with_a_sign_in_it_is_refused() {
    let text = Cursor::new(1, Uuid::from_u128(2)).encode().replacen('0', "+", 1);
    assert!(matches!(Cursor::parse(&text), Err(QueryError::BadCursor)), "{text}");
}

#[test]
fn the_valid_line_of_these_tests_is_a_backup() {
    let events = read_backup(&valid_line()[..], |_| {}).expect("a valid backup");
    assert_eq!(events.len(), 1);
}
