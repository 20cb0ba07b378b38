//! Syslog listeners: UDP (one datagram, one message) and TCP with RFC 6587 framing (octet
//! counting or LF-terminated, detected per message), delivering raw messages in batches.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::stats::{IssueKind, SourceStats};
use super::{SourceBatch, SourceSender, wait_ack};
use crate::Format;

/// Settings shared by the UDP and TCP listeners; [`SyslogConfig::udp`] and
/// [`SyslogConfig::tcp`] give the defaults.
#[derive(Clone, Debug)]
pub struct SyslogConfig {
    /// The source name put in each batch (`syslog-udp`, `syslog-tcp` by default).
    pub name: String,
    /// The format put in each batch ([`Format::Syslog`]: RFC 3164 or 5424 text).
    pub format: Format,
    /// The longest message accepted, in bytes (default 64 KiB); longer ones are counted as
    /// oversize (and, over TCP, close the connection, since the stream cannot be trusted).
    pub max_message: usize,
    /// The most messages put in one batch (default 512).
    pub max_batch: usize,
    /// UDP: how long to wait for more datagrams after the first before sending the batch
    /// (default 5 ms).
    pub batch_wait: Duration,
    /// TCP: the most connections open at once (default 256); more are closed on accept and
    /// counted as refused.
    pub max_connections: usize,
}

impl SyslogConfig {
    /// Defaults for a UDP listener named `syslog-udp`.
    pub fn udp() -> Self {
        Self::named("syslog-udp")
    }

    /// Defaults for a TCP listener named `syslog-tcp`.
    pub fn tcp() -> Self {
        Self::named("syslog-tcp")
    }

    fn named(name: &str) -> Self {
        SyslogConfig {
            name: name.to_string(),
            format: Format::Syslog,
            max_message: 64 * 1024,
            max_batch: 512,
            batch_wait: Duration::from_millis(5),
            max_connections: 256,
        }
    }

    fn batch(&self, peer: SocketAddr, records: Vec<Vec<u8>>) -> SourceBatch {
        SourceBatch {
            source: self.name.clone(),
            format: Some(self.format),
            peer: Some(peer),
            path: None,
            records,
            ack: None,
        }
    }
}

/// Receives syslog datagrams on `socket` until `shutdown` resolves or the pipeline's receiver
/// is gone. One datagram is one message (trailing NUL, CR and LF removed); datagrams from the
/// same peer arriving within [`SyslogConfig::batch_wait`] of the first share a batch.
///
/// Batches carry no ack: UDP cannot tell its senders to slow down, so the listener goes on
/// receiving while the pipeline persists. A full channel still makes it wait, and then the
/// kernel's socket buffer fills and drops datagrams: the kernel counts those per socket, and
/// on Linux they are read every [`KERNEL_DROPS_EVERY`] into
/// [`SourceStatsSnapshot::kernel_drops`](super::SourceStatsSnapshot::kernel_drops), each rise
/// remembered as an issue.
pub async fn run_syslog_udp(
    socket: UdpSocket,
    cfg: SyslogConfig,
    tx: SourceSender,
    stats: Arc<SourceStats>,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let _drops = kernel_drops::socket_inode(&socket)
        .map(|inode| AbortOnDrop(tokio::spawn(kernel_drops::watch(inode, Arc::clone(&stats)))));
    // One byte more than the maximum, to tell a datagram of exactly the maximum from a
    // longer one the kernel cut.
    let mut buf = vec![0u8; cfg.max_message + 1];
    // A datagram from another peer that ended the previous batch.
    let mut carried: Option<(SocketAddr, Vec<u8>)> = None;
    loop {
        let (peer, first) = match carried.take() {
            Some(c) => c,
            None => {
                let received = tokio::select! {
                    _ = &mut shutdown => return,
                    r = socket.recv_from(&mut buf) => r,
                };
                match received {
                    Ok((n, peer)) => match datagram(&cfg, &stats, peer, &buf[..n]) {
                        Some(msg) => (peer, msg),
                        None => continue,
                    },
                    Err(e) => {
                        // ICMP errors surface here on some systems; the socket stays usable.
                        stats.issue(IssueKind::Io, None, None, None, format!("recv: {e}"));
                        continue;
                    }
                }
            }
        };
        let mut records = vec![first];
        let deadline = Instant::now() + cfg.batch_wait;
        while records.len() < cfg.max_batch {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
            else {
                break;
            };
            match received {
                Ok((n, from)) => {
                    let Some(msg) = datagram(&cfg, &stats, from, &buf[..n]) else {
                        continue;
                    };
                    if from == peer {
                        records.push(msg);
                    } else {
                        carried = Some((from, msg));
                        break;
                    }
                }
                Err(e) => stats.issue(IssueKind::Io, None, None, None, format!("recv: {e}")),
            }
        }
        let bytes = records.iter().map(Vec::len).sum();
        let count = records.len();
        let sent = tokio::select! {
            _ = &mut shutdown => return,
            r = tx.send(cfg.batch(peer, records)) => r,
        };
        if sent.is_err() {
            return;
        }
        stats.delivered(count, bytes);
    }
}

/// How often the kernel's drop count of a UDP listener's socket is read.
pub const KERNEL_DROPS_EVERY: Duration = Duration::from_millis(500);

/// Aborts a background task when the function that started it returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The kernel's count of datagrams it dropped for one UDP socket (full receive buffer): the
/// last column of the socket's line in `/proc/net/udp` or `/proc/net/udp6`, found by the
/// socket's inode. Linux only; elsewhere nothing is read and the count stays 0.
mod kernel_drops {
    use std::sync::Arc;

    use tokio::net::UdpSocket;

    use super::KERNEL_DROPS_EVERY;
    use crate::source::stats::SourceStats;

    /// The socket's inode number, which names it in `/proc/net/udp*`.
    #[cfg(target_os = "linux")]
    pub(super) fn socket_inode(socket: &UdpSocket) -> Option<u64> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let fd = socket.as_raw_fd();
        std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .ok()
            .map(|m| m.ino())
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn socket_inode(_socket: &UdpSocket) -> Option<u64> {
        None
    }

    /// Reads the drop count every [`KERNEL_DROPS_EVERY`] into `stats` until aborted.
    pub(super) async fn watch(inode: u64, stats: Arc<SourceStats>) {
        let mut tick = tokio::time::interval(KERNEL_DROPS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(total) = read(inode) {
                stats.kernel_dropped(total);
            }
        }
    }

    /// The drop count of the socket with `inode`, if `/proc/net/udp*` lists it.
    pub(super) fn read(inode: u64) -> Option<u64> {
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .find_map(|table| {
                let text = std::fs::read_to_string(table).ok()?;
                parse(&text, inode)
            })
    }

    /// In a `/proc/net/udp` table (`sl local rem st tx:rx tr:when retr uid timeout inode ref
    /// pointer drops`), the drops of the line whose inode is `inode`.
    pub(super) fn parse(table: &str, inode: u64) -> Option<u64> {
        table.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 13 || cols[9].parse::<u64>().ok()? != inode {
                return None;
            }
            cols[12].parse().ok()
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn parses_the_drops_column_of_the_socket_s_line() {
            let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 \x20 305: 0100007F:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41152 2 000000003a2d1b6e 0\n\
                 \x20 871: 0100007F:A8F1 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 98765 2 00000000d1c2b3a4 1843\n";
            assert_eq!(super::parse(table, 98765), Some(1843));
            assert_eq!(super::parse(table, 41152), Some(0));
            assert_eq!(super::parse(table, 1), None);
            assert_eq!(super::parse("garbage\nmore garbage 1 2\n", 1), None);
        }
    }
}

/// One datagram's message, or `None` (counted) when it is over the maximum; an empty datagram
/// (keep-alive) is ignored.
fn datagram(
    cfg: &SyslogConfig,
    stats: &SourceStats,
    peer: SocketAddr,
    bytes: &[u8],
) -> Option<Vec<u8>> {
    if bytes.len() > cfg.max_message {
        let reason = format!(
            "datagram over the {}-byte maximum (cut by the receive buffer)",
            cfg.max_message
        );
        stats.issue(IssueKind::Oversize, Some(peer), None, None, reason);
        return None;
    }
    let msg = trim_trailer(bytes);
    (!msg.is_empty()).then(|| msg.to_vec())
}

/// `bytes` without trailing NUL, CR and LF (senders differ in which they append).
fn trim_trailer(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\0' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Accepts syslog connections on `listener` until `shutdown` resolves, then stops reading the
/// open connections (a batch already sent is still acknowledged) and returns once they are
/// closed.
///
/// Each connection is read in turn: the complete messages received are sent as one batch, and
/// nothing more is read from that connection until the pipeline acknowledges the batch, so a
/// slow pipeline slows the senders down through TCP flow control. A framing error, an
/// oversize message or a refused batch is counted and closes that connection.
pub async fn run_syslog_tcp(
    listener: TcpListener,
    cfg: SyslogConfig,
    tx: SourceSender,
    stats: Arc<SourceStats>,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let cfg = Arc::new(cfg);
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                stats.issue(IssueKind::Io, None, None, None, format!("accept: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            let reason = format!("{} connections already open", cfg.max_connections);
            stats.issue(IssueKind::Refused, Some(peer), None, None, reason);
            continue;
        };
        stats.connection_accepted();
        let conn = Connection {
            cfg: Arc::clone(&cfg),
            stats: Arc::clone(&stats),
            tx: tx.clone(),
            peer,
        };
        let stop = stop_rx.clone();
        connections.spawn(async move {
            conn.run(stream, stop).await;
            drop(slot);
        });
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// One accepted TCP connection.
struct Connection {
    cfg: Arc<SyslogConfig>,
    stats: Arc<SourceStats>,
    tx: SourceSender,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, mut stream: TcpStream, mut stop: watch::Receiver<bool>) {
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let read = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                r = stream.read(&mut chunk) => r,
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    let reason = format!("read: {e}");
                    self.stats
                        .issue(IssueKind::Io, Some(self.peer), None, None, reason);
                    return;
                }
            };
            let eof = n == 0;
            buf.extend_from_slice(&chunk[..n]);
            let mut records = Vec::new();
            let mut failure = None;
            let mut consumed = 0;
            loop {
                match next_frame(&buf[consumed..], self.cfg.max_message) {
                    Ok(Some((used, msg))) => {
                        consumed += used;
                        if let Some(msg) = msg {
                            records.push(msg.to_vec());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            buf.drain(..consumed);
            if eof && failure.is_none() && !buf.is_empty() {
                // The sender closed without a final trailer: an LF-framed last message is
                // complete; an octet-counted one was cut.
                match at_eof(&buf) {
                    Ok(msg) => records.push(msg.to_vec()),
                    Err(e) => failure = Some(e),
                }
            }
            for batch in records.chunks(self.cfg.max_batch.max(1)) {
                if !self.deliver(batch.to_vec(), &mut stop).await {
                    return;
                }
            }
            if let Some(e) = failure {
                let kind = match e {
                    FrameError::Oversize(_) => IssueKind::Oversize,
                    _ => IssueKind::Framing,
                };
                let reason = format!("{e}; connection closed");
                self.stats.issue(kind, Some(self.peer), None, None, reason);
                return;
            }
            if eof {
                return;
            }
        }
    }

    /// Sends one batch and waits for its ack; `false` when the connection should close.
    async fn deliver(&self, records: Vec<Vec<u8>>, stop: &mut watch::Receiver<bool>) -> bool {
        let bytes = records.iter().map(Vec::len).sum();
        let count = records.len();
        let (ack_tx, ack_rx) = oneshot::channel();
        let mut batch = self.cfg.batch(self.peer, records);
        batch.ack = Some(ack_tx);
        let sent = tokio::select! {
            _ = stop.wait_for(|s| *s) => return false,
            r = self.tx.send(batch) => r,
        };
        if sent.is_err() {
            return false;
        }
        self.stats.delivered(count, bytes);
        // Once sent, the batch is the pipeline's: wait for its answer even while shutting
        // down, so a shutdown does not leave the sender thinking it is lost.
        match wait_ack(ack_rx).await {
            Ok(()) => true,
            Err(reason) => {
                let reason = format!("batch of {count} messages not made durable: {reason}");
                self.stats
                    .issue(IssueKind::Ack, Some(self.peer), None, None, reason);
                false
            }
        }
    }
}

/// Why a TCP stream's framing cannot be followed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum FrameError {
    /// An octet count that is not `NONZERO-DIGIT *DIGIT SP`.
    #[error("bad octet-count prefix {0:?}")]
    BadLength(String),
    /// A message longer than the maximum.
    #[error("message of {0} bytes or more is over the maximum")]
    Oversize(usize),
    /// The connection closed inside an octet-counted message.
    #[error("connection closed inside an octet-counted message ({have} of {want} bytes)")]
    Cut { have: usize, want: usize },
}

/// A frame found: the bytes it used and its message (`None` for a blank line).
type Frame<'a> = (usize, Option<&'a [u8]>);

/// The longest octet count accepted, in digits: ten digits exceed any sane maximum size.
const MAX_LEN_DIGITS: usize = 10;

/// The next frame at the start of `buf` (RFC 6587): `Ok(Some((bytes used, message)))` (the
/// message is `None` for a blank line between messages), `Ok(None)` when more bytes are needed.
///
/// A frame starting with a digit is octet-counted (`LEN SP MSG`); anything else is a message
/// terminated by LF (a CR before it is dropped too).
fn next_frame(buf: &[u8], max: usize) -> Result<Option<Frame<'_>>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if matches!(first, b'\n' | b'\r' | b'\0') {
        return Ok(Some((1, None)));
    }
    if first.is_ascii_digit() {
        let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
        let prefix = || String::from_utf8_lossy(&buf[..(digits + 1).min(buf.len())]).into_owned();
        if first == b'0' || digits > MAX_LEN_DIGITS {
            return Err(FrameError::BadLength(prefix()));
        }
        let Some(&after) = buf.get(digits) else {
            return Ok(None);
        };
        if after != b' ' {
            return Err(FrameError::BadLength(prefix()));
        }
        let len: usize = std::str::from_utf8(&buf[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| FrameError::BadLength(prefix()))?;
        if len > max {
            return Err(FrameError::Oversize(len));
        }
        let start = digits + 1;
        if buf.len() < start + len {
            return Ok(None);
        }
        let msg = trim_trailer(&buf[start..start + len]);
        return Ok(Some((start + len, (!msg.is_empty()).then_some(msg))));
    }
    match buf.iter().take(max + 1).position(|&b| b == b'\n') {
        Some(i) => {
            let msg = trim_trailer(&buf[..i]);
            Ok(Some((i + 1, (!msg.is_empty()).then_some(msg))))
        }
        None if buf.len() > max => Err(FrameError::Oversize(buf.len())),
        None => Ok(None),
    }
}

/// What is left in the buffer when the peer closes: a final LF-framed message without its
/// trailer, or a cut octet-counted one.
fn at_eof(buf: &[u8]) -> Result<&[u8], FrameError> {
    if buf[0].is_ascii_digit() {
        let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
        let want = std::str::from_utf8(&buf[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let have = buf.len().saturating_sub(digits + 1);
        return Err(FrameError::Cut { have, want });
    }
    Ok(trim_trailer(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> (Vec<String>, Option<FrameError>, usize) {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            match next_frame(&input[at..], max) {
                Ok(Some((used, msg))) => {
                    at += used;
                    out.extend(msg.map(|m| String::from_utf8_lossy(m).into_owned()));
                }
                Ok(None) => return (out, None, at),
                Err(e) => return (out, Some(e), at),
            }
        }
    }

    #[test]
    fn octet_counting_and_lf_framing_mix() {
        let input = b"5 <1>ab<2>cd\n\r\n8 <3>x\ny z\r\n<4>tail";
        let (msgs, err, used) = frames(input, 100);
        assert_eq!(msgs, ["<1>ab", "<2>cd", "<3>x\ny z"]);
        assert_eq!(err, None);
        assert_eq!(&input[used..], b"<4>tail");
        assert_eq!(at_eof(&input[used..]), Ok(&b"<4>tail"[..]));
    }

    #[test]
    fn incomplete_frames_wait_for_more() {
        assert_eq!(next_frame(b"12", 100), Ok(None));
        assert_eq!(next_frame(b"12 <1>abc", 100), Ok(None));
        assert_eq!(next_frame(b"<1>abc", 100), Ok(None));
        assert_eq!(
            at_eof(b"12 <1>abc"),
            Err(FrameError::Cut { have: 6, want: 12 })
        );
    }

    #[test]
    fn bad_prefixes_and_oversize() {
        assert_eq!(
            next_frame(b"12x <1>", 100),
            Err(FrameError::BadLength("12x".into()))
        );
        assert_eq!(
            next_frame(b"0 ", 100),
            Err(FrameError::BadLength("0 ".into()))
        );
        assert_eq!(
            next_frame(b"99999999999 ", 100),
            Err(FrameError::BadLength("99999999999 ".into()))
        );
        assert_eq!(next_frame(b"101 ", 100), Err(FrameError::Oversize(101)));
        assert_eq!(
            next_frame(&[b'a'; 101], 100),
            Err(FrameError::Oversize(101))
        );
        // Exactly the maximum, then its LF: accepted.
        let mut line = vec![b'a'; 100];
        line.push(b'\n');
        assert_eq!(next_frame(&line, 100), Ok(Some((101, Some(&line[..100])))));
    }

    #[test]
    fn trailers_are_trimmed() {
        assert_eq!(trim_trailer(b"<1>x\r\n\0"), b"<1>x");
        assert_eq!(trim_trailer(b"\n\0"), b"");
    }
}
