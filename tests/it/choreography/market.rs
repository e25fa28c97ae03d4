//! The harness of the choreography tests: a marketplace on a real runtime, with a provider that
//! can hold charges in flight and a mailer that counts what it sends.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::testing::TestRuntime;
use actors::{Aggregate, AggregateConfig, EventStore, RecordedEvent, SledStore, SledStoreConfig};
use async_trait::async_trait;
use chrono::Utc;
use konnektid::domain::booking::{Booking, BookingCommand, RequestBooking};
use konnektid::domain::course::{Course, CreateCourse, PublishCourse};
use konnektid::domain::email_claim::EmailClaim;
use konnektid::domain::member::{Member, RegisterMember};
use konnektid::domain::payment::Payment;
use konnektid::services::payments::simulated::TABLE;
use konnektid::services::{
    self, ChargeOutcome, ChargeRequest, EmailMessage, EntryKind, GatewayError, MailError, Mailer, OutboxMailer, PaymentGateway,
    ProviderEntry, RefundRequest, ServiceDeps, SimulatedGateway,
};
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

pub const PRICE: i64 = 2_500;

/// The simulated provider, its books in the store of the runtime now running, whose charges
/// wait for a permit: a test that holds them can act while a charge is in flight.
pub struct TestGateway {
    simulated: Mutex<Option<Arc<SimulatedGateway>>>,
    /// Told each time a charge starts.
    pub charging: Notify,
    pub permits: Semaphore,
}

impl TestGateway {
    /// Keeps the books in `store` from now on (the store of a runtime just started).
    fn open_on(&self, store: &dyn EventStore) {
        let records = store.records(TABLE).expect("the provider's records");
        *self.simulated.lock().expect("not poisoned") = Some(Arc::new(SimulatedGateway::new(records, Duration::from_millis(10))));
    }

    /// Lets go of the last runtime's store, so that it can be opened again.
    fn close(&self) {
        *self.simulated.lock().expect("not poisoned") = None;
    }

    fn simulated(&self) -> Arc<SimulatedGateway> {
        self.simulated.lock().expect("not poisoned").clone().expect("a runtime is running")
    }
}

#[async_trait]
impl PaymentGateway for TestGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        self.charging.notify_one();
        self.permits.acquire().await.map_err(|closed| GatewayError::Unavailable(Box::new(closed)))?.forget();
        self.simulated().charge(request).await
    }

    async fn charge_status(&self, key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        self.simulated().charge_status(key).await
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        self.simulated().refund(request).await
    }

    async fn statement(&self, booking_id: Option<Uuid>, offset: usize, limit: usize) -> Result<Vec<ProviderEntry>, GatewayError> {
        self.simulated().statement(booking_id, offset, limit).await
    }
}

/// Counts what it is asked to send, so a test sees a second send even where the outbox would
/// overwrite the file, and notes to whom it delivered. Fails once for an address a test names.
pub struct CountingMailer {
    pub outbox: OutboxMailer,
    pub sent: AtomicUsize,
    pub delivered_to: Mutex<Vec<String>>,
    pub fail_once_for: Mutex<Option<String>>,
}

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, message: EmailMessage) -> Result<(), MailError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let failing = {
            let mut fail = self.fail_once_for.lock().expect("not poisoned");
            fail.take_if(|address| *address == message.to.email).is_some()
        };
        if failing {
            return Err(MailError::OutboxStopped);
        }
        let to = message.to.email.clone();
        self.outbox.send(message).await?;
        self.delivered_to.lock().expect("not poisoned").push(to);
        Ok(())
    }
}

/// A marketplace on a real runtime. The services read the store the runtime writes, and the
/// builder `TestRuntime` hands over does not show its store: so the setup opens the store itself
/// (in `data`), the way `main` does, and builds the runtime on it.
pub struct Market {
    pub test: TestRuntime,
    pub gateway: Arc<TestGateway>,
    pub mailer: Arc<CountingMailer>,
    _data: tempfile::TempDir,
}

impl Market {
    pub async fn start() -> Self {
        Self::with_charge_permits(Semaphore::MAX_PERMITS).await
    }

    /// A market whose first `permits` charges go through; later ones wait for `add_permits`.
    pub async fn with_charge_permits(permits: usize) -> Self {
        let data = tempfile::tempdir().expect("a temporary directory");
        let outbox = OutboxMailer::new(data.path().join("outbox"), "Konnektid <no-reply@konnektid.local>").expect("an outbox");
        let gateway = Arc::new(TestGateway { simulated: Mutex::new(None), charging: Notify::new(), permits: Semaphore::new(permits) });
        let mailer = Arc::new(CountingMailer {
            outbox,
            sent: AtomicUsize::new(0),
            delivered_to: Mutex::new(Vec::new()),
            fail_once_for: Mutex::new(None),
        });
        let (store_dir, deps_gateway, deps_mailer) = (data.path().join("store"), gateway.clone(), mailer.clone());
        let test = TestRuntime::start(move |_unused| {
            deps_gateway.close();
            let store = open_store(&store_dir);
            let local = store.database().clone();
            let store: Arc<dyn EventStore> = Arc::new(store);
            deps_gateway.open_on(store.as_ref());
            let builder = actors::Runtime::builder(store.clone(), local)
                .workers(2)
                .aggregate::<Member>(AggregateConfig::default())
                .aggregate::<EmailClaim>(AggregateConfig::default())
                .aggregate::<Course>(AggregateConfig::default())
                .aggregate::<Booking>(AggregateConfig::default())
                .aggregate::<Payment>(AggregateConfig::default());
            services::register(builder, ServiceDeps { store, gateway: deps_gateway.clone(), mailer: deps_mailer.clone() })
                .expect("the services' records open")
        })
        .await;
        Self { test, gateway, mailer, _data: data }
    }

    pub async fn member(&self, name: &str) -> Uuid {
        let member_id = Uuid::new_v4();
        let email = format!("{name}@example.org");
        let register = RegisterMember { member_id, email, display_name: name.to_owned(), city: None, registered_at: Utc::now() };
        self.test.send::<Member>(member_id, register.into()).await.expect("registered");
        member_id
    }

    /// A published course of `teacher` with `capacity` seats.
    pub async fn course(&self, teacher_id: Uuid, capacity: u32) -> Uuid {
        let course_id = Uuid::new_v4();
        let create = CreateCourse {
            teacher_id,
            title: "Sourdough basics".to_owned(),
            description: "Bake your first loaf.".to_owned(),
            category: "Cooking".to_owned(),
            city: None,
            price_cents: PRICE,
            currency: "EUR".to_owned(),
            capacity,
            created_at: Utc::now(),
        };
        self.test.send::<Course>(course_id, create.into()).await.expect("created");
        self.test.send::<Course>(course_id, PublishCourse { actor_id: teacher_id, at: Utc::now() }.into()).await.expect("published");
        course_id
    }

    /// Requests a booking; answers its id and the request's correlation id.
    pub async fn book(&self, learner_id: Uuid, course_id: Uuid, teacher_id: Uuid, payment_method: &str) -> (Uuid, Uuid) {
        let booking_id = Uuid::new_v4();
        let executed =
            self.test.send::<Booking>(booking_id, request(learner_id, course_id, teacher_id, payment_method)).await.expect("requested");
        (booking_id, executed.events[0].correlation_id)
    }

    /// Every event one request caused, in position order.
    pub async fn flow(&self, correlation_id: Uuid) -> Vec<RecordedEvent> {
        self.test.events().await.into_iter().filter(|event| event.correlation_id == correlation_id).collect()
    }

    pub async fn state<A: Aggregate>(&self, id: Uuid) -> A::State {
        self.test.runtime().state_at::<A>(id, None).await.expect("loaded").map(|(state, _)| state).unwrap_or_default()
    }

    pub async fn seats_taken(&self, course_id: Uuid) -> u32 {
        self.state::<Course>(course_id).await.expect("the course exists").seats_taken()
    }

    /// The provider's statement, oldest first.
    pub async fn statement(&self) -> Vec<ProviderEntry> {
        self.gateway.statement(None, 0, 10_000).await.expect("the statement")
    }

    /// How many times the provider took money.
    pub async fn charges(&self) -> usize {
        self.statement().await.iter().filter(|entry| entry.kind == EntryKind::Charge).count()
    }

    /// How many times the provider gave money back.
    pub async fn refunds(&self) -> usize {
        self.statement().await.iter().filter(|entry| entry.kind == EntryKind::Refund).count()
    }

    /// The outbox's e-mails, as text.
    pub fn outbox(&self) -> Vec<String> {
        let files = std::fs::read_dir(self.mailer.outbox.dir()).expect("the outbox");
        files.map(|file| std::fs::read_to_string(file.expect("an entry").path()).expect("readable")).collect()
    }
}

pub fn request(learner_id: Uuid, course_id: Uuid, teacher_id: Uuid, payment_method: &str) -> BookingCommand {
    let currency = "EUR".to_owned();
    let payment_method = payment_method.to_owned();
    RequestBooking { learner_id, course_id, teacher_id, price_cents: PRICE, currency, payment_method, requested_at: Utc::now() }.into()
}

/// Opens the store, waiting for the previous runtime's writer to let go of it after a restart.
fn open_store(dir: &Path) -> SledStore {
    let config = SledStoreConfig { fsync: false, cache_capacity: 32 * 1024 * 1024, ..SledStoreConfig::default() };
    for _ in 0..500 {
        match SledStore::open(dir, config.clone()) {
            Ok(store) => return store,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("could not open the store in {}", dir.display());
}
