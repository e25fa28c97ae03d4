//! Sending e-mail: the [`Mailer`] trait, an [`OutboxMailer`] that writes one `.eml` file per
//! message (the default: development, tests, and a spool another process may relay), and an
//! [`SmtpMailer`]. Both format the message with `lettre`, so an outbox file is byte for byte what
//! SMTP would send: RFC 5322 headers, MIME, CRLF line endings, non-ASCII headers encoded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One plain-text e-mail to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// Derived from what caused the e-mail, so sending it again is recognisably the same message
    /// (the outbox overwrites the same file).
    pub message_id: Uuid,
    pub to: Recipient,
    pub subject: String,
    pub body: String,
    /// The `Date` header: when the fact happened, so a re-send formats identical bytes.
    pub date: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub name: String,
    pub email: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{address:?} is not a valid e-mail address")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("could not build the e-mail")]
    Build(#[from] lettre::error::Error),
    #[error("could not write {path}")]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the outbox writer stopped before it finished")]
    OutboxStopped,
    #[error("the SMTP server did not take the e-mail")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Delivers e-mail. A message sent twice with the same id is the same message: implementations
/// that can (the outbox) deliver it once; SMTP may deliver it again.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: EmailMessage) -> Result<(), MailError>;
}

/// Where e-mail goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailKind {
    /// One `.eml` file per message in `<data_dir>/outbox`.
    #[default]
    Outbox,
    /// Through an SMTP server.
    Smtp,
}

/// The `[mail]` section of the configuration. Flat and string-typed where empty means "none", so
/// every key can be overridden by an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub kind: MailKind,
    /// The sender, e.g. `Konnektid <no-reply@konnektid.local>`.
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Empty: no authentication.
    pub smtp_username: String,
    pub smtp_password: String,
    /// Upgrade the connection with STARTTLS (required, not opportunistic); false sends in plain
    /// text, for a relay on the same host.
    pub smtp_starttls: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            kind: MailKind::Outbox,
            from: "Konnektid <no-reply@konnektid.local>".to_owned(),
            smtp_host: "localhost".to_owned(),
            smtp_port: 587,
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_starttls: true,
        }
    }
}

/// The mailer `config` asks for; the outbox goes to `<data_dir>/outbox`.
pub fn build_mailer(config: &MailConfig, data_dir: &Path) -> Result<Arc<dyn Mailer>, MailError> {
    Ok(match config.kind {
        MailKind::Outbox => Arc::new(OutboxMailer::new(data_dir.join("outbox"), &config.from)?),
        MailKind::Smtp => Arc::new(SmtpMailer::new(config)?),
    })
}

fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::Address { address: address.to_owned(), source })
}

/// Formats `message` as sent from `from`.
fn format(message: &EmailMessage, from: &Mailbox) -> Result<Message, MailError> {
    let address = message.to.email.parse().map_err(|source| MailError::Address { address: message.to.email.clone(), source })?;
    let to = Mailbox::new(Some(message.to.name.clone()), address);
    let message_id = format!("<{}@{}>", message.message_id, from.email.domain());
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .date(SystemTime::from(message.date))
        .message_id(Some(message_id))
        // A single part adds `MIME-Version: 1.0` and `Content-Type: text/plain; charset=utf-8`.
        .singlepart(SinglePart::plain(message.body.clone()))?)
}

/// Writes each message to `<dir>/<message id>.eml`. A re-send finds its file there and leaves it
/// (the same id is the same message), so a retried handler never leaves two copies; a file gets
/// its name only once whole, so a reader never sees half a message. Messages sent at the same
/// time are made durable together (see `spool`).
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
    spool: Arc<spool::Spool>,
}

impl OutboxMailer {
    /// Creates `dir` if needed.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, MailError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| MailError::Outbox { path: dir.clone(), source })?;
        let from = parse_mailbox(from)?;
        Ok(Self { spool: Arc::new(spool::Spool::start(&dir)?), dir, from })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a message with this id is written to.
    pub fn path_of(&self, message_id: Uuid) -> PathBuf {
        self.dir.join(format!("{message_id}.eml"))
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, message: EmailMessage) -> Result<(), MailError> {
        let bytes = format(&message, &self.from)?.formatted();
        let path = self.path_of(message.message_id);
        let temporary = self.dir.join(format!(".{}.eml.tmp", message.message_id));
        self.spool.write(temporary, path, bytes).await
    }
}

/// Sends through an SMTP server, with a pool of connections.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let builder = if config.smtp_starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
        };
        let mut builder = builder.port(config.smtp_port);
        if !config.smtp_username.is_empty() {
            builder = builder.credentials(Credentials::new(config.smtp_username.clone(), config.smtp_password.clone()));
        }
        Ok(Self { transport: builder.build(), from: parse_mailbox(&config.from)? })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: EmailMessage) -> Result<(), MailError> {
        let formatted = format(&message, &self.from)?;
        self.transport.send(formatted).await?;
        Ok(())
    }
}

mod spool;
#[cfg(test)]
mod tests;
