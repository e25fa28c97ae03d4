#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod actor;
pub mod aggregate;
pub mod codec;
pub mod command;
pub mod event;
pub mod projection;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod testing;

pub use actor::{AggregateConfig, LoadError};
pub use aggregate::Aggregate;
pub use codec::{BytesError, CodecError, DomainEvent, EventCodec, Upcasters};
pub use command::{CommandError, Execute, Executed, InspectError};
pub use event::{CommandContext, ExpectedVersion, Metadata, NewEvent, Position, RecordedEvent, StreamId, Version};
pub use projection::{
    EventHandler, ProcessManager, SubscriberError, SubscriberState, SubscriberStatus, ReadModel, ReadModelHandle, ReadModelTx, ReadVersion,
    RetryPolicy, SubscriberKind, WaitFor, WaitTimeout,
};
pub use runtime::{CommandBus, Runtime, RuntimeBuilder, StartError, StartFrom};
pub use store::{
    Appended, Conflict, ConnectError, EventStore, FaultPlan, Fenced, ImportError, InMemoryStore, Lease, LeaseHeld, Leases, LocalFlush,
    Poisoned, PostgresStore, PostgresStoreConfig, Record, RecordWrite, Records, SledStore, SledStoreConfig, Snapshot, StoreError, SyncStep,
};
