//! Live sources over real sockets on 127.0.0.1 and real files in temporary directories: the
//! records delivered, the errors counted, the checkpoints written.
//!
//! Nothing here asserts on timing: waits are for a result, bounded by a generous timeout.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vigil_ingest::Format;
use vigil_ingest::source::{
    IssueKind, SourceBatch, SourceStats, SyslogConfig, TailConfig, Tailer, WatchSpec,
    run_syslog_tcp, run_syslog_udp,
};

const WAIT: Duration = Duration::from_secs(20);

/// A shutdown future and the switch that resolves it.
fn stopper() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

async fn next_batch(rx: &mut mpsc::Receiver<SourceBatch>) -> SourceBatch {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a batch within the timeout")
        .expect("the source is still running")
}

/// Receives batches, acknowledging each, until `n` records have arrived; returns them as text.
async fn records(rx: &mut mpsc::Receiver<SourceBatch>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut batch = next_batch(rx).await;
        out.extend(
            batch
                .records
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned()),
        );
        if let Some(ack) = batch.ack.take() {
            ack.send(Ok(())).unwrap();
        }
    }
    assert_eq!(out.len(), n, "more records than expected: {out:?}");
    out
}

/// Waits until `cond` holds, checking every few milliseconds.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Syslog UDP

#[tokio::test]
async fn udp_datagrams_arrive_as_records_and_oversize_ones_are_counted() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut cfg = SyslogConfig::udp();
    cfg.max_message = 100;
    let stats = Arc::new(SourceStats::default());
    let (tx, mut rx) = mpsc::channel(16);
    let (stop, shutdown) = stopper();
    let task = tokio::spawn(run_syslog_udp(
        socket,
        cfg,
        tx,
        Arc::clone(&stats),
        shutdown,
    ));

    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = client.local_addr().unwrap();
    client
        .send_to(b"<13>Dec  2 01:00:00 web1 sshd[1]: one\n", addr)
        .await
        .unwrap();
    client
        .send_to(b"<14>1 2026-12-02T01:00:00Z web1 app - - - two\0", addr)
        .await
        .unwrap();
    client.send_to(&[b'x'; 200], addr).await.unwrap();
    client.send_to(b"", addr).await.unwrap();
    client.send_to(b"<15>three\r\n", addr).await.unwrap();

    let mut got = Vec::new();
    while got.len() < 3 {
        let batch = next_batch(&mut rx).await;
        assert_eq!(batch.source, "syslog-udp");
        assert_eq!(batch.format, Some(Format::Syslog));
        assert_eq!(batch.peer, Some(me));
        assert!(batch.ack.is_none(), "UDP batches do not wait for an ack");
        got.extend(
            batch
                .records
                .iter()
                .map(|r| String::from_utf8(r.clone()).unwrap()),
        );
    }
    assert_eq!(
        got,
        [
            "<13>Dec  2 01:00:00 web1 sshd[1]: one",
            "<14>1 2026-12-02T01:00:00Z web1 app - - - two",
            "<15>three",
        ]
    );
    let s = stats.snapshot();
    assert_eq!((s.records, s.oversize, s.framing_errors), (3, 1, 0));
    assert_eq!(s.bytes, got.iter().map(|r| r.len() as u64).sum::<u64>());
    let issues = stats.recent_issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (issues[0].kind, issues[0].peer),
        (IssueKind::Oversize, Some(me))
    );

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

/// A pipeline that stops taking batches makes the listener wait, the socket's receive buffer
/// fill, and the kernel drop datagrams: the loss shows in the stats and the recent issues.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn udp_datagrams_the_kernel_drops_are_counted() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let stats = Arc::new(SourceStats::default());
    // Room for one batch, and nobody reads it: the second send blocks the listener.
    let (tx, _rx) = mpsc::channel(1);
    let (stop, shutdown) = stopper();
    let task = tokio::spawn(run_syslog_udp(
        socket,
        SyslogConfig::udp(),
        tx,
        Arc::clone(&stats),
        shutdown,
    ));

    // Far more than a default receive buffer (≈ 200 KiB) holds.
    const SENT: u64 = 20_000;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let msg = [b'x'; 512];
    for _ in 0..SENT {
        client.send_to(&msg, addr).await.unwrap();
    }
    // The drop count is read every KERNEL_DROPS_EVERY: wait for it (not a timing assertion).
    let deadline = tokio::time::Instant::now() + WAIT;
    while stats.snapshot().kernel_drops == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(vigil_ingest::source::KERNEL_DROPS_EVERY).await;
    }
    let s = stats.snapshot();
    assert!(s.kernel_drops > 0, "no kernel drops seen: {s:?}");
    // Every datagram is delivered, waiting in the buffer, or counted as dropped.
    assert!(s.records + s.kernel_drops <= SENT, "{s:?}");
    let issue = stats
        .recent_issues()
        .into_iter()
        .find(|i| i.kind == IssueKind::KernelDrop)
        .expect("a kernel-drop issue");
    assert!(issue.reason.contains("receive buffer was full"), "{issue}");

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Syslog TCP

struct TcpFixture {
    addr: std::net::SocketAddr,
    stats: Arc<SourceStats>,
    rx: mpsc::Receiver<SourceBatch>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn tcp_listener(max_message: usize) -> TcpFixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = SyslogConfig::tcp();
    cfg.max_message = max_message;
    let stats = Arc::new(SourceStats::default());
    let (tx, rx) = mpsc::channel(16);
    let (stop, shutdown) = stopper();
    let task = tokio::spawn(run_syslog_tcp(
        listener,
        cfg,
        tx,
        Arc::clone(&stats),
        shutdown,
    ));
    TcpFixture {
        addr,
        stats,
        rx,
        stop,
        task,
    }
}

/// `msg` with an RFC 6587 octet count.
fn counted(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

#[tokio::test]
async fn tcp_octet_counting_and_lf_framing_across_connections_and_split_writes() {
    let mut f = tcp_listener(1024).await;

    // Connection 1: octet counting, one message with an LF inside, one split across writes.
    let mut c1 = TcpStream::connect(f.addr).await.unwrap();
    let m1 = "<13>Dec  2 01:00:00 web1 app: first";
    let m2 = "<13>Dec  2 01:00:01 web1 app: multi\nline";
    let m3 = "<13>Dec  2 01:00:02 web1 app: split across writes";
    c1.write_all(format!("{}{}", counted(m1), counted(m2)).as_bytes())
        .await
        .unwrap();
    let framed = counted(m3);
    let (head, tail) = framed.split_at(10);
    c1.write_all(head.as_bytes()).await.unwrap();
    c1.flush().await.unwrap();
    let first = records(&mut f.rx, 2).await;
    assert_eq!(first, [m1, m2]);
    c1.write_all(tail.as_bytes()).await.unwrap();
    assert_eq!(records(&mut f.rx, 1).await, [m3]);

    // Connection 2: LF framing (CRLF too), a message split mid-line, then an octet-counted
    // one on the same connection, and a last message without its LF before closing.
    let mut c2 = TcpStream::connect(f.addr).await.unwrap();
    c2.write_all(
        b"<14>Dec  2 01:00:03 db1 app: lf one\n<14>Dec  2 01:00:04 db1 app: crlf\r\n<14>par",
    )
    .await
    .unwrap();
    assert_eq!(
        records(&mut f.rx, 2).await,
        [
            "<14>Dec  2 01:00:03 db1 app: lf one",
            "<14>Dec  2 01:00:04 db1 app: crlf"
        ]
    );
    c2.write_all(format!("tial\n{}<14>last", counted("<14>counted")).as_bytes())
        .await
        .unwrap();
    c2.shutdown().await.unwrap();
    assert_eq!(
        records(&mut f.rx, 3).await,
        ["<14>partial", "<14>counted", "<14>last"]
    );

    let s = f.stats.snapshot();
    assert_eq!((s.records, s.connections), (8, 2));
    assert_eq!((s.framing_errors, s.oversize, s.ack_failures), (0, 0, 0));
    let batch_peer = {
        let mut c3 = TcpStream::connect(f.addr).await.unwrap();
        c3.write_all(b"<15>peer\n").await.unwrap();
        let mut b = next_batch(&mut f.rx).await;
        assert_eq!(b.source, "syslog-tcp");
        assert_eq!(b.format, Some(Format::Syslog));
        b.ack
            .take()
            .expect("TCP batches wait for an ack")
            .send(Ok(()))
            .unwrap();
        (b.peer, c3.local_addr().ok())
    };
    assert_eq!(batch_peer.0, batch_peer.1);

    f.stop.send(()).unwrap();
    tokio::time::timeout(WAIT, f.task).await.unwrap().unwrap();
}

/// Reads until the server closes the connection (EOF or reset); panics on timeout.
async fn closed_by_server(c: &mut TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(WAIT, c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

#[tokio::test]
async fn tcp_oversize_bad_prefix_and_cut_messages_are_counted_and_close_the_connection() {
    let mut f = tcp_listener(64).await;

    // An octet count over the maximum: the message before it is delivered, then the close.
    let mut c1 = TcpStream::connect(f.addr).await.unwrap();
    c1.write_all(format!("<13>ok\n100 {}", "x".repeat(100)).as_bytes())
        .await
        .unwrap();
    assert_eq!(records(&mut f.rx, 1).await, ["<13>ok"]);
    closed_by_server(&mut c1).await;
    let me1 = c1.local_addr().unwrap();

    // An LF-framed message over the maximum.
    let mut c2 = TcpStream::connect(f.addr).await.unwrap();
    c2.write_all(format!("<13>{}\n", "y".repeat(100)).as_bytes())
        .await
        .unwrap();
    closed_by_server(&mut c2).await;

    // A length prefix that is not digits then a space.
    let mut c3 = TcpStream::connect(f.addr).await.unwrap();
    c3.write_all(b"12x <13>bad prefix").await.unwrap();
    closed_by_server(&mut c3).await;
    let me3 = c3.local_addr().unwrap();

    // An octet-counted message cut by the sender closing.
    let mut c4 = TcpStream::connect(f.addr).await.unwrap();
    c4.write_all(b"20 <13>abc").await.unwrap();
    c4.shutdown().await.unwrap();
    closed_by_server(&mut c4).await;

    let stats = Arc::clone(&f.stats);
    wait_until("four counted errors", || {
        let s = stats.snapshot();
        s.oversize + s.framing_errors == 4
    })
    .await;
    let s = f.stats.snapshot();
    assert_eq!((s.oversize, s.framing_errors, s.records), (2, 2, 1));
    let issues = f.stats.recent_issues();
    let oversize = issues.iter().find(|i| i.peer == Some(me1)).unwrap();
    assert_eq!(oversize.kind, IssueKind::Oversize);
    assert!(oversize.reason.contains("100 bytes"), "{}", oversize.reason);
    let bad = issues.iter().find(|i| i.peer == Some(me3)).unwrap();
    assert_eq!(bad.kind, IssueKind::Framing);
    assert!(bad.reason.contains("\"12x\""), "{}", bad.reason);
    assert!(
        issues.iter().any(|i| i.reason.contains("(7 of 20 bytes)")),
        "{issues:?}"
    );

    f.stop.send(()).unwrap();
    tokio::time::timeout(WAIT, f.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn tcp_refused_ack_is_counted_and_closes_the_connection() {
    let mut f = tcp_listener(1024).await;
    let mut c = TcpStream::connect(f.addr).await.unwrap();
    c.write_all(b"<13>one\n").await.unwrap();
    let mut batch = next_batch(&mut f.rx).await;
    assert_eq!(batch.records, [b"<13>one".to_vec()]);
    batch
        .ack
        .take()
        .unwrap()
        .send(Err("journal full".into()))
        .unwrap();
    closed_by_server(&mut c).await;
    let stats = Arc::clone(&f.stats);
    wait_until("the ack failure", || stats.snapshot().ack_failures == 1).await;
    let issue = &f.stats.recent_issues()[0];
    assert_eq!(issue.kind, IssueKind::Ack);
    assert!(issue.reason.contains("journal full"), "{}", issue.reason);

    f.stop.send(()).unwrap();
    tokio::time::timeout(WAIT, f.task).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Watched files

struct TailFixture {
    rx: mpsc::Receiver<SourceBatch>,
    stats: Arc<SourceStats>,
    checkpoint: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl TailFixture {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(WAIT, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn start_tail(state: &Path, watch: WatchSpec, max_line: usize) -> TailFixture {
    let mut cfg = TailConfig::new(state, vec![watch]);
    cfg.poll_interval = Duration::from_millis(20);
    cfg.max_line = max_line;
    let tailer = Tailer::open(cfg).unwrap();
    let stats = Arc::clone(&tailer.stats()[0].1);
    let checkpoint = tailer.checkpoint_path().to_path_buf();
    let (tx, rx) = mpsc::channel(4);
    let (stop, shutdown) = stopper();
    let task = tokio::spawn(tailer.run(tx, shutdown));
    TailFixture {
        rx,
        stats,
        checkpoint,
        stop,
        task,
    }
}

/// The checkpoint's (file name, offset) pairs, sorted; empty when there is none yet.
fn checkpoint(path: &Path) -> Vec<(String, u64)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut out: Vec<(String, u64)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = PathBuf::from(f["path"].as_str().unwrap());
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, f["offset"].as_u64().unwrap())
        })
        .collect();
    out.sort();
    out
}

fn append(path: &Path, bytes: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes.as_bytes()).unwrap();
}

#[tokio::test]
async fn tail_sends_appended_lines_and_holds_back_a_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "first\r\nsecond\n\npart");
    let mut watch = WatchSpec::new("app", &log);
    watch.format = Some(Format::Syslog);
    let mut t = start_tail(&dir.path().join("state"), watch, 1024);

    let mut batch = next_batch(&mut t.rx).await;
    assert_eq!(batch.source, "app");
    assert_eq!(batch.format, Some(Format::Syslog));
    assert_eq!(batch.path.as_deref(), Some(log.as_path()));
    assert_eq!(batch.records, [b"first".to_vec(), b"second".to_vec()]);
    batch.ack.take().unwrap().send(Ok(())).unwrap();
    // "first\r\nsecond\n\n" = 15 bytes; "part" waits for its newline.
    let cp = t.checkpoint.clone();
    wait_until("checkpoint at 15", || {
        checkpoint(&cp) == [("app.log".into(), 15)]
    })
    .await;

    append(&log, "ial\nthird\n");
    assert_eq!(records(&mut t.rx, 2).await, ["partial", "third"]);
    wait_until("checkpoint at 29", || {
        checkpoint(&cp) == [("app.log".into(), 29)]
    })
    .await;
    let s = t.stats.snapshot();
    assert_eq!(
        (s.records, s.batches, s.oversize, s.truncations),
        (4, 2, 0, 0)
    );
    t.stop().await;
}

#[tokio::test]
async fn tail_skips_and_counts_over_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &format!("short\n{}\nafter\n", "x".repeat(50)));
    let mut t = start_tail(&dir.path().join("state"), WatchSpec::new("app", &log), 10);
    assert_eq!(records(&mut t.rx, 2).await, ["short", "after"]);
    let s = t.stats.snapshot();
    assert_eq!((s.records, s.oversize), (2, 1));
    let issue = &t.stats.recent_issues()[0];
    assert_eq!((issue.kind, issue.offset), (IssueKind::Oversize, Some(6)));
    assert_eq!(issue.path.as_deref(), Some(log.as_path()));

    // An over-long line still being written is skipped to its newline, across polls.
    append(&log, &"y".repeat(30));
    let stats = Arc::clone(&t.stats);
    wait_until("the unfinished long line counted", || {
        stats.snapshot().oversize == 2
    })
    .await;
    append(&log, &format!("{}\nlast\n", "y".repeat(30)));
    assert_eq!(records(&mut t.rx, 1).await, ["last"]);
    assert_eq!(t.stats.snapshot().oversize, 2);
    t.stop().await;
}

#[tokio::test]
async fn tail_follows_rename_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "one\ntwo\n");
    let mut t = start_tail(&dir.path().join("state"), WatchSpec::new("app", &log), 1024);
    assert_eq!(records(&mut t.rx, 2).await, ["one", "two"]);

    // The writer appends, logrotate renames, the writer reopens a new file.
    append(&log, "three\n");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "new one\n");
    let mut got = records(&mut t.rx, 2).await;
    got.sort();
    assert_eq!(got, ["new one", "three"]);

    let stats = Arc::clone(&t.stats);
    wait_until("the old file let go", || stats.snapshot().rotations == 1).await;
    let cp = t.checkpoint.clone();
    wait_until("only the new file checkpointed", || {
        checkpoint(&cp) == [("app.log".into(), 8)]
    })
    .await;
    let s = t.stats.snapshot();
    assert_eq!((s.records, s.truncations, s.files_dropped), (4, 0, 0));
    t.stop().await;
}

#[tokio::test]
async fn tail_restarts_a_copytruncated_file_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a\nb\n");
    let mut t = start_tail(&dir.path().join("state"), WatchSpec::new("app", &log), 1024);
    assert_eq!(records(&mut t.rx, 2).await, ["a", "b"]);
    let cp = t.checkpoint.clone();
    wait_until("checkpoint at 4", || {
        checkpoint(&cp) == [("app.log".into(), 4)]
    })
    .await;

    // Truncated, then rewritten longer than the old position before the next poll can
    // notice the shrink: the changed first bytes give it away.
    std::fs::write(&log, "xyz1\nxyz2\n").unwrap();
    assert_eq!(records(&mut t.rx, 2).await, ["xyz1", "xyz2"]);
    wait_until("checkpoint at 10", || {
        checkpoint(&cp) == [("app.log".into(), 10)]
    })
    .await;

    // Truncated to empty, then a short line: shrank below the position.
    std::fs::File::create(&log).unwrap();
    let stats = Arc::clone(&t.stats);
    wait_until("second truncation", || stats.snapshot().truncations == 2).await;
    append(&log, "c\n");
    assert_eq!(records(&mut t.rx, 1).await, ["c"]);
    let issues = t.stats.recent_issues();
    let kinds: Vec<_> = issues.iter().map(|i| (i.kind, i.offset)).collect();
    assert_eq!(
        kinds,
        [
            (IssueKind::Truncated, Some(4)),
            (IssueKind::Truncated, Some(10))
        ]
    );
    t.stop().await;
}

#[tokio::test]
async fn tail_resumes_from_its_checkpoint_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    append(&log, "1\n2\n");
    let mut t = start_tail(&state, WatchSpec::new("app", &log), 1024);
    assert_eq!(records(&mut t.rx, 2).await, ["1", "2"]);
    let cp = t.checkpoint.clone();
    wait_until("checkpoint at 4", || {
        checkpoint(&cp) == [("app.log".into(), 4)]
    })
    .await;
    t.stop().await;

    append(&log, "3\n4\n");
    let mut t = start_tail(&state, WatchSpec::new("app", &log), 1024);
    let batch = next_batch(&mut t.rx).await;
    assert_eq!(batch.records, [b"3".to_vec(), b"4".to_vec()]);
    t.stop().await;
}

#[tokio::test]
async fn tail_finishes_a_file_rotated_while_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    append(&log, "1\n");
    let mut t = start_tail(&state, WatchSpec::new("app", &log), 1024);
    assert_eq!(records(&mut t.rx, 1).await, ["1"]);
    let cp = t.checkpoint.clone();
    wait_until("checkpoint at 2", || {
        checkpoint(&cp) == [("app.log".into(), 2)]
    })
    .await;
    t.stop().await;

    append(&log, "2\n");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "fresh\n");
    let mut t = start_tail(&state, WatchSpec::new("app", &log), 1024);
    let mut got = records(&mut t.rx, 2).await;
    got.sort();
    assert_eq!(got, ["2", "fresh"]);
    let stats = Arc::clone(&t.stats);
    wait_until("the old file let go", || stats.snapshot().rotations == 1).await;
    t.stop().await;
}

#[tokio::test]
async fn tail_withheld_ack_keeps_the_checkpoint_and_a_refused_one_resends() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a\nb\n");
    let mut t = start_tail(&dir.path().join("state"), WatchSpec::new("app", &log), 1024);

    let mut batch = next_batch(&mut t.rx).await;
    assert_eq!(batch.records, [b"a".to_vec(), b"b".to_vec()]);
    let ack = batch.ack.take().unwrap();
    // While the ack is withheld the tailer waits: the checkpoint is not at 4.
    assert!(
        checkpoint(&t.checkpoint)
            .iter()
            .all(|(_, offset)| *offset == 0),
        "{:?}",
        checkpoint(&t.checkpoint)
    );
    drop(ack);

    // Dropped unanswered: counted, and the same lines come again.
    let mut again = next_batch(&mut t.rx).await;
    assert_eq!(again.records, [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(t.stats.snapshot().ack_failures, 1);
    assert!(
        checkpoint(&t.checkpoint)
            .iter()
            .all(|(_, offset)| *offset == 0)
    );
    again.ack.take().unwrap().send(Ok(())).unwrap();
    let cp = t.checkpoint.clone();
    wait_until("checkpoint at 4", || {
        checkpoint(&cp) == [("app.log".into(), 4)]
    })
    .await;
    let issue = &t.stats.recent_issues()[0];
    assert_eq!((issue.kind, issue.offset), (IssueKind::Ack, Some(0)));
    t.stop().await;
}

#[tokio::test]
async fn tail_watches_matching_files_of_a_directory_and_drops_deleted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("a.log"), "from a\n");
    append(&logs.join("notes.txt"), "not watched\n");
    let mut watch = WatchSpec::new("dir", &logs);
    watch.pattern = Some("*.log".into());
    let mut t = start_tail(&dir.path().join("state"), watch, 1024);
    assert_eq!(records(&mut t.rx, 1).await, ["from a"]);

    append(&logs.join("b.log"), "from b\n");
    assert_eq!(records(&mut t.rx, 1).await, ["from b"]);
    let cp = t.checkpoint.clone();
    wait_until("both checkpointed", || {
        checkpoint(&cp) == [("a.log".into(), 7), ("b.log".into(), 7)]
    })
    .await;

    std::fs::remove_file(logs.join("a.log")).unwrap();
    wait_until("a.log dropped", || checkpoint(&cp) == [("b.log".into(), 7)]).await;
    let s = t.stats.snapshot();
    assert_eq!((s.records, s.rotations, s.files_dropped), (2, 1, 0));
    t.stop().await;
}

#[tokio::test]
async fn tail_rejects_a_bad_pattern_and_a_corrupt_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut watch = WatchSpec::new("dir", dir.path());
    watch.pattern = Some("[".into());
    let err = Tailer::open(TailConfig::new(dir.path().join("s1"), vec![watch]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("pattern `[`"), "{err}");

    let state = dir.path().join("s2");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("tail-checkpoints.json"), "{ torn").unwrap();
    let watch = WatchSpec::new("app", dir.path().join("app.log"));
    let err = Tailer::open(TailConfig::new(&state, vec![watch]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a tail checkpoint"), "{err}");
}
