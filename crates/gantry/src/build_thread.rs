//! The one thread that compiles snapshots and frees the ones they replace. One thread,
//! not the blocking pool, so that the memory a rebuild allocates and frees stays in
//! one allocator heap: the next rebuild reuses those pages instead of faulting fresh
//! zeroed ones in (handing them back to the OS after every rebuild cost a quarter of
//! its CPU in page faults), and once changes stop for a moment the thread gives its
//! freed pages back to the OS in one go.

use std::sync::mpsc;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// How long without a job before freed memory is handed back.
const QUIET: Duration = Duration::from_secs(1);

/// Handle to the builder thread; cheap to clone. The thread ends when every handle
/// is gone.
#[derive(Clone)]
pub struct BuildThread {
    jobs: mpsc::Sender<Job>,
}

impl BuildThread {
    pub fn start() -> std::io::Result<BuildThread> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("gantry-builder".into())
            .spawn(move || run(&rx))?;
        Ok(BuildThread { jobs })
    }

    /// Runs `f` on the builder thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| anyhow::anyhow!("the snapshot builder thread is gone"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the snapshot builder failed"))
    }

    /// Runs `f` on the builder thread without waiting for it.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        let _ = self.jobs.send(Box::new(f));
    }
}

fn run(jobs: &mpsc::Receiver<Job>) {
    let mut dirty = false;
    loop {
        match jobs.recv_timeout(QUIET) {
            Ok(job) => {
                // A job that panics must not take the thread (and every later
                // configuration change) with it; its caller sees the dropped reply.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("a snapshot build panicked; keeping the running configuration");
                }
                dirty = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if dirty => {
                let started = Instant::now();
                gantry_alloc::release_freed_memory();
                tracing::debug!(
                    micros = started.elapsed().as_micros() as u64,
                    "builder memory released"
                );
                dirty = false;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_one_named_thread() {
        let t = BuildThread::start().unwrap();
        let name = t
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("gantry-builder"));
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..3 {
            let tx = tx.clone();
            t.spawn(move || tx.send(i).unwrap());
        }
        assert_eq!(t.run(|| 7).await.unwrap(), 7);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_thread() {
        let t = BuildThread::start().unwrap();
        let failed: anyhow::Result<()> = t.run(|| panic!("bad build")).await;
        assert!(failed.is_err());
        assert_eq!(t.run(|| 1 + 1).await.unwrap(), 2);
    }
}
