//! How the views' times are read back from their trees. They stay stored as chrono writes them
//! (RFC 3339 text), so trees written by earlier versions read as before. Chrono's `Deserialize`
//! hands that text to its general format parser, which cost about 150 ns a time, three times per
//! course of a search page; RFC 3339's own parser reads chrono's output in about 35 ns. Text it
//! refuses (a year beyond 9999, say) goes to the general parser, so what reads is unchanged.

use chrono::{DateTime, FixedOffset, Utc};
use serde::de::{Deserializer, Error, Visitor};
use serde::Deserialize;

/// For `#[serde(deserialize_with = "...")]` on a `DateTime<Utc>` field.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    StoredTime::deserialize(deserializer).map(|stored| stored.0)
}

/// For `#[serde(deserialize_with = "...")]` on an `Option<DateTime<Utc>>` field.
pub fn deserialize_option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<StoredTime>::deserialize(deserializer).map(|stored| stored.map(|stored| stored.0))
}

struct StoredTime(DateTime<Utc>);

impl<'de> Deserialize<'de> for StoredTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StoredTimeVisitor)
    }
}

struct StoredTimeVisitor;

impl Visitor<'_> for StoredTimeVisitor {
    type Value = StoredTime;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<StoredTime, E> {
        let parsed = DateTime::parse_from_rfc3339(text).or_else(|_| text.parse::<DateTime<FixedOffset>>());
        parsed.map(|time| StoredTime(time.with_timezone(&Utc))).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Stored {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct ReadFast {
        #[serde(deserialize_with = "deserialize")]
        at: DateTime<Utc>,
        #[serde(deserialize_with = "deserialize_option")]
        maybe: Option<DateTime<Utc>>,
    }

    fn read_back(stored: &Stored) -> ReadFast {
        let bytes = actors::encode_bytes(stored).expect("encode");
        actors::decode_bytes(&bytes).expect("decode")
    }

    #[test]
    fn it_should_read_back_what_chrono_wrote_as_chrono_reads_it() {
        let times = [
            Utc::now(),
            Utc.with_ymd_and_hms(2026, 12, 3, 4, 5, 6).unwrap(),
            DateTime::from_timestamp_millis(-62_000_000_000_000).expect("a year before 0"),
            DateTime::from_timestamp(253_402_300_800 * 2, 7).expect("a year after 9999"),
        ];
        for at in times {
            for maybe in [None, Some(at)] {
                let stored = Stored { at, maybe };
                let read = read_back(&stored);
                assert_eq!((read.at, read.maybe), (stored.at, stored.maybe), "{at:?}");
            }
        }
    }

    #[test]
    fn it_should_refuse_text_that_is_no_time() {
        #[derive(Serialize)]
        struct NotATime {
            at: &'static str,
            maybe: Option<&'static str>,
        }
        let bytes = actors::encode_bytes(&NotATime { at: "yesterday", maybe: None }).expect("encode");
        assert!(actors::decode_bytes::<ReadFast>(&bytes).is_err());
    }
}
