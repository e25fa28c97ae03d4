//! The outbox's group writer. Messages sent at the same time are written, then made durable
//! together: one filesystem sync for their contents (`syncfs` on Linux) and one directory sync for
//! their names, instead of a device flush per file. A sender hears back only once its message
//! survives a power loss, as before.
//!
//! A message's file appears under its name only once complete. On Linux its bytes go into an
//! unnamed file (`O_TMPFILE`) that is linked under its name after the contents sync; elsewhere,
//! or where the filesystem has no unnamed files, into a temporary file renamed into place. The
//! link spares the directory a temporary name to add and remove, which on ext4 cost more than
//! writing the message (a rename is a lookup of two names, a removal and an insertion).

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
        let naming = Naming::available_in(dir);
        tracing::debug!(dir = %dir.display(), ?naming, "outbox writer starting");
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || run(&owned, naming, &queue))
            .map_err(|source| MailError::Outbox { path: dir.to_owned(), source })?;
        Ok(Self { jobs })
    }

    /// Writes `bytes` under `path` once they are whole (through `temporary` where the file
    /// cannot be written unnamed); answers once the file and its name are durable. When `path`
    /// exists already, it holds this very message from an earlier send and is left as it is.
    pub(super) async fn write(&self, temporary: PathBuf, path: PathBuf, bytes: Vec<u8>) -> Result<(), MailError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(Job { temporary, path, bytes, done, also_done: Vec::new() }).map_err(|_| MailError::OutboxStopped)?;
        answer.await.map_err(|_| MailError::OutboxStopped)?
    }
}

/// How a message's file gets its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// Written unnamed, then linked under its name (Linux, where the filesystem allows it).
    LinkUnnamed,
    /// Written under a temporary name, then renamed.
    RenameTemporary,
}

impl Naming {
    /// Unnamed files need `O_TMPFILE` support in the outbox's filesystem and `/proc` to link
    /// them by (linking a descriptor directly needs a capability a server does not have).
    fn available_in(dir: &Path) -> Self {
        let linkable = cfg!(target_os = "linux") && Path::new("/proc/self/fd").is_dir();
        if linkable && File::open(dir).and_then(|directory| unnamed_file(&directory)).is_ok() {
            Naming::LinkUnnamed
        } else {
            Naming::RenameTemporary
        }
    }
}

fn run(dir: &Path, naming: Naming, queue: &mpsc::Receiver<Job>) {
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
        write_group(dir, naming, group);
    }
}

fn write_group(dir: &Path, naming: Naming, group: Vec<Job>) {
    let directory = match File::open(dir) {
        Ok(directory) => directory,
        Err(error) => return group.into_iter().for_each(|job| job.fail(clone_error(&error))),
    };
    let mut written = Vec::with_capacity(group.len());
    for job in group {
        match write_file(&directory, naming, &job) {
            Ok(file) => written.push((job, file)),
            Err(error) => job.fail(error),
        }
    }
    // Contents first: a name must never point at data that a crash could lose.
    let files: Vec<&File> = written.iter().map(|(_, file)| file).collect();
    if let Err(error) = sync_contents(&directory, &files) {
        return written.into_iter().for_each(|(job, _)| job.fail(clone_error(&error)));
    }
    let mut named = Vec::with_capacity(written.len());
    for (job, file) in written {
        match give_name(naming, &file, &job) {
            Ok(()) => named.push(job),
            Err(error) => job.fail(error),
        }
    }
    match directory.sync_all() {
        Ok(()) => named.into_iter().for_each(Job::succeed),
        Err(error) => named.into_iter().for_each(|job| job.fail(clone_error(&error))),
    }
}

fn write_file(directory: &File, naming: Naming, job: &Job) -> std::io::Result<File> {
    let mut file = match naming {
        Naming::LinkUnnamed => unnamed_file(directory)?,
        Naming::RenameTemporary => File::create(&job.temporary)?,
    };
    file.write_all(&job.bytes)?;
    Ok(file)
}

fn give_name(naming: Naming, file: &File, job: &Job) -> std::io::Result<()> {
    match naming {
        Naming::LinkUnnamed => match link_unnamed(file, &job.path) {
            // Sent before (a retried handler): the file holds this same message, whole.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            linked => linked,
        },
        Naming::RenameTemporary => std::fs::rename(&job.temporary, &job.path),
    }
}

/// A new file in `directory` with no name yet.
#[cfg(target_os = "linux")]
fn unnamed_file(directory: &File) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(directory, ".", flags, Mode::from_raw_mode(0o666))?))
}

#[cfg(not(target_os = "linux"))]
fn unnamed_file(_directory: &File) -> std::io::Result<File> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Gives an unnamed file its name, through its `/proc` entry.
#[cfg(target_os = "linux")]
fn link_unnamed(file: &File, path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let entry = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(rustix::fs::CWD, entry.as_str(), rustix::fs::CWD, path, rustix::fs::AtFlags::SYMLINK_FOLLOW)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn link_unnamed(_file: &File, _path: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `messages` (name, bytes) as one group with `naming`; answers each sender's result.
    fn write_as_one_group(dir: &Path, naming: Naming, messages: &[(&str, &str)]) -> Vec<Result<(), MailError>> {
        let (jobs, answers): (Vec<Job>, Vec<_>) = messages
            .iter()
            .map(|(name, text)| {
                let (done, answer) = oneshot::channel();
                let job = Job {
                    temporary: dir.join(format!(".{name}.tmp")),
                    path: dir.join(name),
                    bytes: text.as_bytes().to_vec(),
                    done,
                    also_done: Vec::new(),
                };
                (job, answer)
            })
            .unzip();
        write_group(dir, naming, jobs);
        answers.into_iter().map(|mut answer| answer.try_recv().expect("answered")).collect()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).expect("the outbox").map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn check(naming: Naming) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let answers = write_as_one_group(dir.path(), naming, &[("a.eml", "first"), ("b.eml", "second")]);
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        // Sent again: the file is there already and stays as it was.
        let answers = write_as_one_group(dir.path(), naming, &[("a.eml", "first"), ("c.eml", "third")]);
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(names_in(dir.path()), ["a.eml", "b.eml", "c.eml"], "one file per message, nothing temporary left");
        assert_eq!(std::fs::read_to_string(dir.path().join("a.eml")).expect("a file"), "first");
        assert_eq!(std::fs::read_to_string(dir.path().join("c.eml")).expect("a file"), "third");
    }

    #[test]
    fn it_should_name_each_file_once_whole_through_a_temporary_name() {
        check(Naming::RenameTemporary);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn it_should_name_each_file_once_whole_by_linking_it_where_the_filesystem_allows() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        if Naming::available_in(dir.path()) == Naming::LinkUnnamed {
            check(Naming::LinkUnnamed);
        }
    }

    #[test]
    fn it_should_fail_every_sender_of_a_group_when_the_outbox_is_gone() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let gone = dir.path().join("gone");
        for naming in [Naming::LinkUnnamed, Naming::RenameTemporary] {
            let answers = write_as_one_group(&gone, naming, &[("a.eml", "first"), ("b.eml", "second")]);
            assert!(answers.iter().all(|answer| matches!(answer, Err(MailError::Outbox { .. }))), "{answers:?}");
        }
    }
}
