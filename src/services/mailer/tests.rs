//! Tests of the outbox: the file's format and that a re-send rewrites the same file.

use chrono::DateTime;

use super::*;

fn message(subject: &str) -> EmailMessage {
    EmailMessage {
        message_id: Uuid::from_u128(7),
        to: Recipient { name: "Zoë Learner".to_owned(), email: "zoe@example.org".to_owned() },
        subject: subject.to_owned(),
        body: "Hello Zoë,\nyour booking is confirmed.\n".to_owned(),
        date: DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default(),
    }
}

fn outbox() -> (tempfile::TempDir, OutboxMailer) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mailer = OutboxMailer::new(dir.path().join("outbox"), "Konnektid <no-reply@konnektid.local>").expect("an outbox");
    (dir, mailer)
}

#[actix_rt::test]
async fn it_should_write_an_rfc_5322_file_named_after_the_message_id() {
    let (_dir, mailer) = outbox();
    mailer.send(message("Your booking is confirmed")).await.expect("sent");

    let text = std::fs::read_to_string(mailer.path_of(Uuid::from_u128(7))).expect("the file exists");
    let (headers, _body) = text.split_once("\r\n\r\n").expect("a blank line ends the headers");
    for expected in [
        "From: Konnektid <no-reply@konnektid.local>",
        "Subject: Your booking is confirmed",
        "Message-ID: <00000000-0000-0000-0000-000000000007@konnektid.local>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(headers.contains(expected), "{expected:?} missing from\n{headers}");
    }
    assert!(headers.contains("To: ") && headers.contains("<zoe@example.org>"), "{headers}");
    assert!(headers.contains("Date: "), "{headers}");
    assert!(!text.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
}

#[actix_rt::test]
async fn it_should_rewrite_the_same_file_when_a_message_is_sent_again() {
    let (_dir, mailer) = outbox();
    mailer.send(message("Your booking is confirmed")).await.expect("sent");
    let first = std::fs::read(mailer.path_of(Uuid::from_u128(7))).expect("the file exists");
    mailer.send(message("Your booking is confirmed")).await.expect("sent again");

    let files: Vec<_> = std::fs::read_dir(mailer.dir()).expect("the outbox").collect();
    assert_eq!(files.len(), 1, "no second file and no temporary file left behind");
    assert_eq!(std::fs::read(mailer.path_of(Uuid::from_u128(7))).expect("the file exists"), first, "the same bytes");
}

#[test]
fn it_should_not_accept_a_malformed_sender() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    assert!(matches!(OutboxMailer::new(dir.path(), "not an address"), Err(MailError::Address { .. })));
}

#[test]
fn it_should_read_the_mail_section() {
    let config: MailConfig = serde_json::from_str(r#"{"kind": "smtp", "smtp_host": "mail.example.org"}"#).expect("valid");
    assert_eq!(config.kind, MailKind::Smtp);
    assert_eq!((config.smtp_host.as_str(), config.smtp_port, config.smtp_starttls), ("mail.example.org", 587, true));
}

#[actix_rt::test]
async fn it_should_write_messages_sent_at_the_same_time_whole_and_answer_each_sender() {
    let (_dir, mailer) = outbox();
    let messages: Vec<EmailMessage> = (0..40u128)
        .map(|id| EmailMessage { message_id: Uuid::from_u128(100 + id % 30), ..message(&format!("Message {}", id % 30)) })
        .collect();
    // 40 sends of 30 distinct messages at once: groups, and the same message twice in one group.
    let sent = futures::future::join_all(messages.iter().cloned().map(|message| mailer.send(message))).await;
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");

    let names: Vec<String> = std::fs::read_dir(mailer.dir())
        .expect("the outbox")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 30, "one file per message and no temporary file left behind: {names:?}");
    for id in 0..30u128 {
        let text = std::fs::read_to_string(mailer.path_of(Uuid::from_u128(100 + id))).expect("the file exists");
        assert!(text.contains(&format!("Subject: Message {id}\r\n")), "{text}");
    }
}
