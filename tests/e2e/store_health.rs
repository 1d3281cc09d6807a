//! Damaged, starved and copied stores, with the real binary: a full disk stops the bot with
//! exit code 4 in seconds and leaves the store readable; a store that is damaged is refused
//! with the remedy instead of panicking or opening as an empty book; `store verify` and
//! `store backup` work with the bot stopped and running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{message, model_price_shifts, Setup, TestApp};

/// A stopped bot's store holding decisions and trades.
fn traded_store() -> TestApp {
    let script = model_price_shifts(11, 8, 120, 0);
    let mut app = Setup::new(script)
        .sim(|sim| sim.events_per_second = 0)
        .screen_every_event()
        .spawn();
    let mut running = app.start();
    running.wait_for("a trade and 60 decisions", |logs| {
        let decisions = crate::support::decisions_in(logs);
        (decisions.len() >= 60 && decisions.iter().any(|d| d.outcome == "traded")).then_some(())
    });
    running.terminate();
    app
}

/// The binary with the app's environment but the store at `store`.
fn at_store(app: &TestApp, store: &Path, args: &[&str]) -> (i32, String, String) {
    let store = store.to_str().expect("temp paths are UTF-8");
    app.output_with_env(&[("SHIFTBOT__STORAGE__PATH", store)], args)
}

/// A copy of the app's store to damage, so each case starts from the same bytes.
fn copy_store(app: &TestApp, name: &str) -> PathBuf {
    let target = app.dir.path().join(name);
    copy_dir(&app.store_path, &target);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read store dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

fn assert_refused_with_remedy((code, _, stderr): &(i32, String, String), what: &str) {
    assert_eq!(
        *code, 1,
        "{what}: exit {code} (101 is a panic); stderr:\n{stderr}"
    );
    assert!(stderr.contains("is damaged"), "{what}: {stderr}");
    assert!(stderr.contains("reset --yes"), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn verify_and_backup_with_the_bot_stopped_and_running() {
    let app = traded_store();
    let (code, stdout, stderr) = app.output(&["store", "verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");
    assert!(
        stdout.contains("events") && stdout.contains("trades"),
        "{stdout}"
    );

    // Stopped: the command makes the copy itself.
    let stopped = app.dir.path().join("backup-stopped");
    let (code, stdout, stderr) = app.output(&["store", "backup", stopped.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("verified"), "{stdout}");
    let decisions = app.decisions();
    let (code, copy, stderr) = at_store(&app, &stopped, &["decisions", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(copy.lines().count(), decisions.len());

    // Running: the bot's writer makes it between two commits.
    let mut app = app;
    let mut running = app.start();
    let listening = running.wait_for_message("admin listener serving review commands (read-only)");
    let admin = listening["addr"].as_str().expect("addr").to_string();
    let live = app.dir.path().join("backup-live");
    let backup_live = || {
        app.output_with_env(
            &[("SHIFTBOT__ADMIN__LISTEN", &admin)],
            &["store", "backup", live.to_str().expect("utf-8")],
        )
    };
    let (code, stdout, stderr) = backup_live();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("verified"), "{stdout}");
    // A second backup into the same (now full) directory is refused, not merged.
    let (code, _, stderr) = backup_live();
    assert_eq!(code, 1);
    assert!(stderr.contains("not empty"), "{stderr}");
    running.terminate();
    let (code, stdout, stderr) = at_store(&app, &live, &["store", "verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");
}

#[test]
fn damaged_stores_are_refused_with_the_remedy() {
    let app = traded_store();
    let (_, original, _) = app.output(&["decisions", "--json"]);
    assert!(!original.is_empty());

    // A truncated db file once made sled panic (exit 101) in every command. sled reads its
    // log up to the cut: either that is an earlier state of the store, which verifies and
    // reads as a prefix of what it held, or the store is refused with the remedy.
    let db_len = std::fs::metadata(app.store_path.join("db"))
        .expect("db")
        .len();
    for (case, cut) in [db_len / 2, db_len / 3, db_len * 9 / 10, 4096, 100]
        .into_iter()
        .enumerate()
    {
        let truncated = copy_store(&app, &format!("truncated-{case}"));
        std::fs::OpenOptions::new()
            .write(true)
            .open(truncated.join("db"))
            .and_then(|f| f.set_len(cut))
            .expect("truncate");
        let verify = at_store(&app, &truncated, &["store", "verify"]);
        let read = at_store(&app, &truncated, &["decisions", "--json"]);
        if verify.0 == 0 {
            assert_eq!(read.0, 0, "verified but unreadable: {}", read.2);
            assert!(original.starts_with(&read.1), "cut at {cut}: not a prefix");
        } else {
            assert_refused_with_remedy(&verify, &format!("db cut at {cut}, verify"));
            let run = app
                .command(&["run"])
                .env("SHIFTBOT__STORAGE__PATH", &truncated)
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
            let run = (run.status.code().unwrap_or(-1), String::new(), stderr);
            assert_refused_with_remedy(&run, &format!("db cut at {cut}, run"));
        }
        assert_ne!(read.0, 101, "decisions panicked: {}", read.2);
    }

    // A lost snapshot once opened the store as an empty book, silently.
    let no_snapshot = copy_store(&app, "no-snapshot");
    for entry in std::fs::read_dir(&no_snapshot).expect("dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("snap.") {
            std::fs::remove_file(entry.path()).expect("remove snapshot");
        }
    }
    let (code, stdout, stderr) = at_store(&app, &no_snapshot, &["decisions", "--json"]);
    if code == 0 {
        assert_eq!(
            stdout, original,
            "without its snapshot the store must read the same"
        );
    } else {
        assert_refused_with_remedy(&(code, stdout, stderr), "lost snapshot");
    }
    let (code, stdout, _) = at_store(&app, &no_snapshot, &["report", "--json"]);
    assert!(code != 0 || !stdout.contains("\"trades\":0"), "{stdout}");

    // Bit flips: whatever sled reads or refuses, `run` never trades on a store `verify` fails.
    let db_len = std::fs::metadata(app.store_path.join("db"))
        .expect("db")
        .len();
    for (case, offset) in [db_len / 7, db_len / 3, db_len / 2, db_len - 64]
        .into_iter()
        .enumerate()
    {
        let flipped = copy_store(&app, &format!("flipped-{case}"));
        let db = flipped.join("db");
        let mut bytes = std::fs::read(&db).expect("read db");
        for i in 0..16 {
            let at = (offset as usize + i * 13) % bytes.len();
            bytes[at] ^= 0x5A;
        }
        std::fs::write(&db, bytes).expect("write db");
        let verify = at_store(&app, &flipped, &["store", "verify"]);
        assert!(
            verify.0 == 0 || verify.0 == 1,
            "verify exit {}: {}",
            verify.0,
            verify.2
        );
        assert!(!verify.2.contains("panicked"), "{}", verify.2);
        if verify.0 != 0 {
            let run = app
                .command(&["run"])
                .env("SHIFTBOT__STORAGE__PATH", &flipped)
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert_eq!(
                run.status.code(),
                Some(1),
                "run on a store verify refused: {stderr}"
            );
        }
    }
}

/// A 0-byte `snap.*.generating` (left by a full disk) once made every open fail with "Read
/// corrupted data"; it is removed with a warning and the store reads as before.
#[test]
fn an_empty_leftover_snapshot_is_removed() {
    let app = traded_store();
    let (_, before, _) = app.output(&["decisions", "--json"]);
    let leftover = app.store_path.join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, b"").expect("leftover");
    let (code, after, stderr) = app.output(&["decisions", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(after, before);
    assert!(!leftover.exists());
    assert!(stderr.contains("unfinished snapshot"), "{stderr}");
}

/// A tmpfs mounted for the test (root only); unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk once hung the bot in sled's final flush (SIGTERM did nothing) and a review
/// command on the full disk corrupted the store. Now: exit 4 within 5 s of the failure, a
/// clear refusal while the disk is full, and an intact store once space is back.
#[test]
fn a_full_disk_stops_the_bot_with_exit_4_and_leaves_the_store_intact() {
    let probe = tempfile::tempdir().expect("temp dir");
    let Some(disk) = Tmpfs::mount(&probe.path().join("disk"), "16m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let store = disk.0.join("store");
    let mut app = Setup::embedded_default()
        .env("SHIFTBOT__STORAGE__PATH", store.to_str().expect("utf-8"))
        .env("SHIFTBOT__SIM__EVENTS_PER_SECOND", "0")
        .env("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "0")
        .env("SHIFTBOT__FILTER__COOLDOWN", "0s")
        .env("SHIFTBOT__ADMIN__LISTEN", "127.0.0.1:0")
        .spawn();
    let mut running = app.start();
    let finished = running.wait_exit(Duration::from_secs(60));
    let exited_at = chrono::Utc::now();
    assert_eq!(finished.code, 4, "{}", finished.stderr);
    let failed_at = finished
        .logs
        .iter()
        .find(|line| {
            message(line).starts_with("store commit failed")
                || message(line).starts_with("the store's final commit did not finish")
        })
        .and_then(|line| line["timestamp"].as_str())
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .unwrap_or_else(|| panic!("no failure logged:\n{}", finished.stderr));
    let took = exited_at - failed_at.with_timezone(&chrono::Utc);
    assert!(
        took < chrono::Duration::seconds(5),
        "exited {took} after the failure"
    );

    // Still full: refused, and no empty snapshot is left behind.
    let (code, _, stderr) = app.output(&["decisions"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("free some space"), "{stderr}");
    for entry in std::fs::read_dir(&store).expect("store dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".generating"), "left {name}");
    }

    disk.resize("64m");
    let (code, stdout, stderr) = app.output(&["store", "verify"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");
    let (code, stdout, stderr) = app.output(&["decisions", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().count() > 0, "what was acknowledged is there");
}
