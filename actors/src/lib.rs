#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

// The modules are private: what an application needs is re-exported below, grouped by role, so
// the plumbing (registries, the delivery loop, the writers) can change without breaking it.
mod actor;
mod aggregate;
mod bus;
mod codec;
mod command;
mod event;
mod load;
mod metrics;
mod registry;
mod runtime;
mod store;
mod subscriber;
pub mod testing;

// Writing an aggregate: the pure trait, its events' encoding, and what a command carries.
pub use aggregate::Aggregate;
pub use codec::{decode_bytes, encode_bytes, BytesError, CodecError, DomainEvent, EventCodec, Upcasters};
pub use event::{CommandContext, ExpectedVersion, Metadata, NewEvent, Position, RecordedEvent, StreamId, Version};

// Running it: the runtime, the command bus and their answers.
pub use actor::AggregateConfig;
pub use bus::CommandBus;
pub use command::{CommandError, Execute, Executed, InspectError};
pub use load::{load_state, LoadError};
pub use registry::RegistryStats;
pub use runtime::{Runtime, RuntimeBuilder, StartError, StartFrom, DEFAULT_LEASE_TTL};

// Subscribers of the log: read models, reactions (process managers and handlers), and the set
// of them a runtime runs.
pub use subscriber::{
    decode_value, EventHandler, ParkedError, ParkedEvent, ProcessManager, ReadModel, ReadModelCopy, ReadModelHandle, ReadModelTx,
    ReadVersion, RebuildError, RetryPolicy, SubscriberError, SubscriberKind, SubscriberState, SubscriberStatus, Subscribers, WaitFor,
    WaitTimeout,
};

// Event stores: the trait, the embedded sled store (the default), PostgreSQL, and memory; the
// records and leases every store keeps beside its log.
pub use store::{
    follow, Appended, CommittedBatch, Conflict, ConnectError, EventStore, EventView, FaultPlan, Fenced, FormatError, ImportError,
    InMemoryStore, Lease, LeaseHeld, Leases, LocalFlush, Poisoned, PostgresStore, PostgresStoreConfig, Record, RecordWrite, Records,
    SledStore, SledStoreConfig, Snapshot, StoreError, SyncStep, UpgradeProgress,
};
