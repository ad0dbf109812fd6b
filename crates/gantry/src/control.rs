//! Controlling a running node through its pid file in the prefix: signals for stop,
//! quit and reload, and the liveness check behind `gantry health`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// `<prefix>/pids/gantry.pid`.
pub fn pid_file(prefix: &Path) -> PathBuf {
    prefix.join("pids").join("gantry.pid")
}

/// Writes this process's pid, refusing when another live node owns the prefix.
pub fn write_pid(prefix: &Path) -> anyhow::Result<PathBuf> {
    if let Some(pid) = running_pid(prefix)
        && pid != std::process::id() as i32
    {
        bail!(
            "Gantry is already running in {} (pid {pid})",
            prefix.display()
        );
    }
    let path = pid_file(prefix);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, format!("{}\n", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The pid of a live node in `prefix`, if any.
pub fn running_pid(prefix: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file(prefix)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    is_alive(pid).then_some(pid)
}

/// Signal 0 checks existence (and our right to signal it); an exited process whose
/// parent has not reaped it yet (a zombie) counts as gone.
fn is_alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// Sends `sig` to the node in `prefix`.
pub fn signal(prefix: &Path, sig: Signal) -> anyhow::Result<i32> {
    let Some(pid) = running_pid(prefix) else {
        bail!("Gantry is not running in {}", prefix.display());
    };
    kill(Pid::from_raw(pid), sig).with_context(|| format!("cannot signal pid {pid}"))?;
    Ok(pid)
}

/// Sends `sig` and waits up to `timeout_secs` for the node to exit.
pub fn stop(prefix: &Path, sig: Signal, timeout_secs: u64) -> anyhow::Result<()> {
    let pid = signal(prefix, sig)?;
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("Gantry (pid {pid}) did not exit within {timeout_secs}s")
}
