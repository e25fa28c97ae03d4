//! Model-based property test: random appends give the same answers and the same log from every
//! store (PostgreSQL too, where a database answers) as from a plain `Vec` + `HashMap` model of
//! the contract.

use std::collections::HashMap;

use actors::{Appended, CommandContext, Conflict, ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

use super::{in_memory, sled_temporary, whole_log, Store};

/// The expected version an append names, relative to the stream's actual one.
#[derive(Debug, Clone)]
enum Expect {
    Right,
    /// Off by this much (ahead, or behind when the stream is long enough).
    Wrong(u64),
    Any,
}

#[derive(Debug, Clone)]
struct Op {
    stream: usize,
    expect: Expect,
    /// One event per entry: `true` is an `A`, `false` a `B`.
    events: Vec<bool>,
    /// Reuse the command id of an earlier append.
    repeat: Option<Index>,
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![3 => Just(Expect::Right), 1 => (1..3u64).prop_map(Expect::Wrong), 1 => Just(Expect::Any)];
    let repeat = prop_oneof![4 => Just(None), 1 => any::<Index>().prop_map(Some)];
    (0..4usize, expect, prop::collection::vec(any::<bool>(), 0..4), repeat).prop_map(|(stream, expect, events, repeat)| Op {
        stream,
        expect,
        events,
        repeat,
    })
}

/// The contract, as simply as it can be said.
#[derive(Default)]
struct Model {
    log: Vec<RecordedEvent>,
    versions: HashMap<StreamId, u64>,
    commands: HashMap<Uuid, (usize, usize)>,
}

impl Model {
    fn append(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Appended, Conflict> {
        let current = self.versions.get(stream).copied().unwrap_or(0);
        if let Some(&(first, count)) = self.commands.get(&context.command_id) {
            let events = self.log[first..first + count].to_vec();
            let version = events.last().map_or(current, |e| e.version);
            return Ok(Appended { events, version, already_committed: true });
        }
        if !expected.matches(current) {
            return Err(Conflict { expected, actual: current });
        }
        let recorded: Vec<RecordedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(offset, new)| RecordedEvent {
                position: (self.log.len() + offset + 1) as u64,
                stream: stream.clone(),
                version: current + 1 + offset as u64,
                event_id: new.event_id,
                event_type: new.event_type,
                schema_version: new.schema_version,
                payload: new.payload,
                recorded_at: Default::default(),
                correlation_id: context.correlation_id,
                causation_id: context.causation_id,
                metadata: context.metadata.clone(),
            })
            .collect();
        if !recorded.is_empty() {
            self.commands.insert(context.command_id, (self.log.len(), recorded.len()));
            self.versions.insert(stream.clone(), current + recorded.len() as u64);
            self.log.extend(recorded.iter().cloned());
        }
        Ok(Appended { version: current + recorded.len() as u64, events: recorded, already_committed: false })
    }
}

/// Clears what the model cannot know: the commit time.
fn timeless(mut events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
    for event in &mut events {
        event.recorded_at = Default::default();
    }
    events
}

async fn check_against_model(store: Store, ops: &[Op]) {
    let streams: Vec<StreamId> = ["account", "account", "account", "ledger"].iter().map(|t| StreamId::new(*t, Uuid::new_v4())).collect();
    let mut model = Model::default();
    let mut command_ids: Vec<Uuid> = Vec::new();

    for (step, op) in ops.iter().enumerate() {
        let stream = &streams[op.stream];
        let current = model.versions.get(stream).copied().unwrap_or(0);
        let expected = match op.expect {
            Expect::Right => ExpectedVersion::Exact(current),
            Expect::Wrong(off) if current >= off && step % 2 == 0 => ExpectedVersion::Exact(current - off),
            Expect::Wrong(off) => ExpectedVersion::Exact(current + off),
            Expect::Any => ExpectedVersion::Any,
        };
        let command_id = match &op.repeat {
            Some(index) if !command_ids.is_empty() => command_ids[index.index(command_ids.len())],
            _ => Uuid::new_v4(),
        };
        command_ids.push(command_id);
        let context = CommandContext {
            command_id,
            correlation_id: Uuid::new_v4(),
            causation_id: (step % 3 == 0).then(Uuid::new_v4),
            metadata: [("step".to_string(), step.to_string())].into(),
        };
        let events: Vec<NewEvent> = op
            .events
            .iter()
            .enumerate()
            .map(|(i, a)| NewEvent {
                event_id: Uuid::new_v4(),
                event_type: if *a { "A" } else { "B" }.into(),
                schema_version: 1 + i as u32,
                payload: vec![step as u8, i as u8],
            })
            .collect();

        let wanted = model.append(stream, expected, events.clone(), &context);
        let got = store.append(stream, expected, events, &context).await.expect("the store works");
        let got = got.map(|a| Appended { events: timeless(a.events), ..a });
        assert_eq!(got, wanted, "step {step}: {op:?}");
    }

    assert_eq!(timeless(whole_log(&store).await), model.log);
    assert_eq!(store.head().await.unwrap(), model.log.len() as u64);
    let only_a = vec!["A".to_string()];
    let model_a: Vec<_> = model.log.iter().filter(|e| e.event_type == "A").cloned().collect();
    assert_eq!(timeless(store.read_all(1, usize::MAX, Some(&only_a)).await.unwrap()), model_a);
    let middle = model.log.len() as u64 / 2 + 1;
    assert_eq!(
        timeless(store.read_all(middle, 3, None).await.unwrap()),
        model.log.iter().skip(middle as usize - 1).take(3).cloned().collect::<Vec<_>>()
    );
    for stream in &streams {
        let model_stream: Vec<_> = model.log.iter().filter(|e| e.stream == *stream).cloned().collect();
        assert_eq!(timeless(store.read_stream(stream, 1, usize::MAX).await.unwrap()), model_stream);
        assert_eq!(store.stream_version(stream).await.unwrap(), model_stream.len() as u64);
        assert_eq!(timeless(store.read_stream_last(stream, 2).await.unwrap()), model_stream[model_stream.len().saturating_sub(2)..]);
    }
    let mut accounts: Vec<Uuid> = streams[..3].iter().filter(|s| model.versions.contains_key(s)).map(|s| s.aggregate_id).collect();
    accounts.sort();
    assert_eq!(store.streams_of("account", None, 10).await.unwrap(), accounts);
    for (command_id, &(first, count)) in &model.commands {
        assert_eq!(store.committed_by(*command_id).await.unwrap().map(timeless), Some(model.log[first..first + count].to_vec()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_store_behaves_like_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(async {
            check_against_model(in_memory(), &ops).await;
            check_against_model(sled_temporary(), &ops).await;
        });
    }
}

proptest! {
    // Fewer cases: each one migrates a schema of its own.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn the_postgres_store_behaves_like_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(async {
            let Some(schema) = actors::testing::postgres::TestSchema::create("model").await else { return };
            check_against_model(std::sync::Arc::new(schema.store().await), &ops).await;
        });
    }
}
