//! The outbox's group writer. Messages sent at the same time are written, then made durable
//! together: one filesystem sync for their contents (`syncfs` on Linux) and one directory sync for
//! their names, instead of a device flush per file. A sender hears back only once its message
//! survives a power loss, as before.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::MailError;

/// Messages written in one group at most.
const MAX_GROUP: usize = 256;

/// The handle of the writer thread; it stops when the last handle is dropped.
#[derive(Debug)]
pub(super) struct Spool {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    temporary: PathBuf,
    path: PathBuf,
    bytes: Vec<u8>,
    done: oneshot::Sender<Result<(), MailError>>,
    /// Senders of the same message (same path) in the same group: one write answers them all.
    also_done: Vec<oneshot::Sender<Result<(), MailError>>>,
}

impl Job {
    fn fail(self, source: std::io::Error) {
        for done in std::iter::once(self.done).chain(self.also_done) {
            let error = MailError::Outbox { path: self.path.clone(), source: clone_error(&source) };
            let _ = done.send(Err(error));
        }
    }

    fn succeed(self) {
        for done in std::iter::once(self.done).chain(self.also_done) {
            let _ = done.send(Ok(()));
        }
    }
}

impl Spool {
    pub(super) fn start(dir: &Path) -> Result<Self, MailError> {
        let (jobs, queue) = mpsc::channel();
        let owned = dir.to_owned();
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || run(&owned, &queue))
            .map_err(|source| MailError::Outbox { path: dir.to_owned(), source })?;
        Ok(Self { jobs })
    }

    /// Writes `bytes` to `temporary`, then renames it to `path`, so a reader never sees half a
    /// message; answers once both are durable.
    pub(super) async fn write(&self, temporary: PathBuf, path: PathBuf, bytes: Vec<u8>) -> Result<(), MailError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(Job { temporary, path, bytes, done, also_done: Vec::new() }).map_err(|_| MailError::OutboxStopped)?;
        answer.await.map_err(|_| MailError::OutboxStopped)?
    }
}

fn run(dir: &Path, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => match group.iter_mut().find(|queued| queued.path == job.path) {
                    // The same message twice: both temporary files would be one.
                    Some(queued) => queued.also_done.push(job.done),
                    None => group.push(job),
                },
                Err(_) => break,
            }
        }
        write_group(dir, group);
    }
}

fn write_group(dir: &Path, group: Vec<Job>) {
    let mut written = Vec::with_capacity(group.len());
    for job in group {
        match write_file(&job.temporary, &job.bytes) {
            Ok(file) => written.push((job, file)),
            Err(error) => job.fail(error),
        }
    }
    // Contents first: a name must never point at data that a crash could lose.
    let files: Vec<&File> = written.iter().map(|(_, file)| file).collect();
    let directory = match File::open(dir).and_then(|directory| sync_contents(&directory, &files).map(|()| directory)) {
        Ok(directory) => directory,
        Err(error) => return written.into_iter().for_each(|(job, _)| job.fail(clone_error(&error))),
    };
    let mut renamed = Vec::with_capacity(written.len());
    for (job, _) in written {
        match std::fs::rename(&job.temporary, &job.path) {
            Ok(()) => renamed.push(job),
            Err(error) => job.fail(error),
        }
    }
    match directory.sync_all() {
        Ok(()) => renamed.into_iter().for_each(Job::succeed),
        Err(error) => renamed.into_iter().for_each(|job| job.fail(clone_error(&error))),
    }
}

fn write_file(temporary: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let mut file = File::create(temporary)?;
    file.write_all(bytes)?;
    Ok(file)
}

/// One `syncfs` covers every file of the group (and whatever else is dirty on that filesystem).
#[cfg(target_os = "linux")]
fn sync_contents(directory: &File, _files: &[&File]) -> std::io::Result<()> {
    rustix::fs::syncfs(directory).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn sync_contents(_directory: &File, files: &[&File]) -> std::io::Result<()> {
    files.iter().try_for_each(|file| file.sync_all())
}

fn clone_error(error: &std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), error.to_string())
}
