//! Answers kept for queries that read only the read models. Such an answer is a function of the
//! request's text, the caller and the read models' data, so while the read models' version
//! ([`actors::ReadVersion`]) has not moved, the same request from the same caller gets the same
//! bytes without being parsed or executed. Any commit to any read model moves the version, so a
//! kept answer is never older than what executing the query again would show.
//!
//! Only whole answers without errors are kept. Requests are matched on their exact text (the
//! POST body or the GET query string): a client repeating a request sends the same bytes, and
//! identical bytes were valid JSON the first time, so the transport checks still hold.

use actix_web::web::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::app::Caller;

/// How a request arrived; part of the key so a body and a query string never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Post,
    Get,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    caller: Caller,
    transport: Transport,
    request: Bytes,
}

/// A kept answer: the read-model version it was computed under, the operation's name (for the
/// metrics) and the JSON bytes sent.
#[derive(Clone)]
pub struct Answer {
    version: u64,
    pub operation: std::sync::Arc<str>,
    pub body: Bytes,
}

/// Weighs an answer by the bytes it holds, so the budget is memory, not a count.
#[derive(Clone)]
struct BySize;

impl Weighter<Key, Answer> for BySize {
    fn weight(&self, key: &Key, answer: &Answer) -> u64 {
        (key.request.len() + answer.body.len() + answer.operation.len() + 64) as u64
    }
}

/// The kept answers of one server; holds at most `budget_bytes`, least used first out.
pub struct Answers {
    kept: Option<Cache<Key, Answer, BySize>>,
}

/// A guess of the average answer's size, used only to size the cache's index.
const TYPICAL_ANSWER_BYTES: u64 = 4 * 1024;

impl Answers {
    /// `budget_bytes` 0 keeps nothing.
    pub fn new(budget_bytes: u64) -> Self {
        let kept = (budget_bytes > 0).then(|| {
            let items = (budget_bytes / TYPICAL_ANSWER_BYTES).clamp(16, 1 << 20) as usize;
            Cache::with_weighter(items, budget_bytes, BySize)
        });
        Self { kept }
    }

    /// The answer kept for this request and caller, if the read models still hold what it was
    /// computed from (`version` is their version now).
    pub fn get(&self, caller: Caller, transport: Transport, request: &Bytes, version: u64) -> Option<Answer> {
        let kept = self.kept.as_ref()?;
        let key = Key { caller, transport, request: request.clone() };
        kept.get(&key).filter(|answer| answer.version == version)
    }

    /// Keeps `body` as the answer to this request, computed from the read models as they were at
    /// `version` (read before the query ran).
    pub fn keep(&self, caller: Caller, transport: Transport, request: Bytes, version: u64, operation: &str, body: Bytes) {
        if let Some(kept) = &self.kept {
            let answer = Answer { version, operation: operation.into(), body };
            kept.insert(Key { caller, transport, request }, answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn it_should_answer_the_same_request_of_the_same_caller_while_the_version_holds() {
        let answers = Answers::new(1 << 20);
        let (body, member) = (request("{\"query\":\"{ stats { coursesPublished } }\"}"), Caller::Member(uuid::Uuid::new_v4()));
        answers.keep(member, Transport::Post, body.clone(), 7, "Stats", request("{\"data\":{}}"));
        let hit = answers.get(member, Transport::Post, &body, 7).expect("kept");
        assert_eq!((&*hit.operation, &hit.body[..]), ("Stats", &b"{\"data\":{}}"[..]));
        assert!(answers.get(member, Transport::Post, &body, 8).is_none(), "the read models moved on");
        assert!(answers.get(Caller::Anonymous, Transport::Post, &body, 7).is_none(), "another caller");
        assert!(answers.get(member, Transport::Get, &body, 7).is_none(), "another transport");
        assert!(answers.get(member, Transport::Post, &request("{\"query\":\"{ me { id } }\"}"), 7).is_none());
    }

    #[test]
    fn it_should_keep_nothing_without_a_budget_and_stay_within_one() {
        let off = Answers::new(0);
        off.keep(Caller::Anonymous, Transport::Get, request("query=%7Bstats%7D"), 1, "anonymous", request("{}"));
        assert!(off.get(Caller::Anonymous, Transport::Get, &request("query=%7Bstats%7D"), 1).is_none());

        let small = Answers::new(64 * 1024);
        let big = Bytes::from(vec![b' '; 4096]);
        for round in 0..100 {
            small.keep(Caller::Anonymous, Transport::Post, request(&format!("{round}")), 1, "q", big.clone());
        }
        let kept = small.kept.as_ref().expect("a cache");
        assert!(kept.weight() <= 64 * 1024, "{} bytes kept", kept.weight());
        assert!(kept.len() < 100);
    }
}
