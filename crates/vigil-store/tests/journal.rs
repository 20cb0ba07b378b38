//! Integration tests of the journal: round trips, concurrency, torn tails, consumers,
//! retention, async use, and a real crash test (the test binary re-executes itself as a child
//! that appends until it is killed with SIGKILL).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use vigil_store::journal::{
    Damage, Journal, JournalError, JournalOptions, Record, RetentionPolicy,
};

/// Small segments so that a few hundred records already span many files.
fn small_segments() -> JournalOptions {
    JournalOptions {
        segment_bytes: 2048,
        ..JournalOptions::default()
    }
}

/// A payload that says who wrote it and can be regenerated to check it byte for byte.
fn payload(writer: u64, seq: u64) -> Vec<u8> {
    let mut bytes = format!("w{writer}:s{seq}:").into_bytes();
    let mut len = ((writer * 7919 + seq * 104_729) % 700) as usize;
    let slot = writer % 100; // crash-test writers are `run * 100 + slot`
    if writer >= 100 && slot == 0 {
        // One crash-test writer appends big records, so kills also land inside long writes.
        len += 150_000;
    }
    bytes.extend((0..len).map(|i| (i as u64 ^ writer ^ seq) as u8));
    bytes
}

/// Parses `w<writer>:s<seq>:` back out of a payload.
fn author(payload: &[u8]) -> Option<(u64, u64)> {
    let first = payload.iter().position(|&b| b == b':')?;
    let second = first + 1 + payload[first + 1..].iter().position(|&b| b == b':')?;
    let field = |bytes: &[u8], prefix: char| -> Option<u64> {
        std::str::from_utf8(bytes)
            .ok()?
            .strip_prefix(prefix)?
            .parse()
            .ok()
    };
    Some((
        field(&payload[..first], 'w')?,
        field(&payload[first + 1..second], 's')?,
    ))
}

/// Appends `payload(writer, seq)` for every `seq` in `seqs` and waits until all are durable.
fn fill(journal: &Journal, writer: u64, seqs: std::ops::Range<u64>) {
    let mut last = None;
    for seq in seqs {
        last = Some(journal.append(&payload(writer, seq)).unwrap());
    }
    if let Some(ticket) = last {
        ticket.wait().unwrap();
    }
}

fn read_all(journal: &Journal, from: u64) -> Vec<Record> {
    journal
        .read_from(from)
        .collect::<Result<Vec<_>, _>>()
        .expect("no damage expected")
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn round_trip_across_segment_rolls_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(journal.recovery().next_offset, 0);
    let mut last = None;
    for seq in 0..300 {
        last = Some(journal.append(&payload(1, seq)).unwrap());
    }
    assert_eq!(last.unwrap().wait().unwrap(), 299);
    assert!(segment_files(dir.path()).len() > 10, "segments should roll");

    let records = read_all(&journal, 0);
    assert_eq!(records.len(), 300);
    for (seq, record) in records.iter().enumerate() {
        assert_eq!(record.offset, seq as u64);
        assert_eq!(record.payload, payload(1, seq as u64));
    }
    // Starting in the middle of a segment.
    let tail = read_all(&journal, 157);
    assert_eq!(tail.first().map(|r| r.offset), Some(157));
    assert_eq!(tail.len(), 143);
    journal.close().unwrap();
    drop(journal);

    let reopened = Journal::open(dir.path(), small_segments()).unwrap();
    let recovery = reopened.recovery().clone();
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(recovery.torn_tail, None);
    assert_eq!(recovery.last_offset, Some(299));
    assert_eq!(recovery.next_offset, 300);
    assert_eq!(reopened.append(b"after").unwrap().wait().unwrap(), 300);
    assert_eq!(read_all(&reopened, 0).len(), 301);
}

#[test]
fn a_record_larger_than_a_segment_gets_one_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    let big = vec![7u8; 10_000];
    journal.append(b"small").unwrap().wait().unwrap();
    journal.append(&big).unwrap().wait().unwrap();
    journal.append(b"small again").unwrap().wait().unwrap();
    let records = read_all(&journal, 0);
    assert_eq!(records[1].payload, big);
    assert_eq!(records[2].payload, b"small again");
    assert_eq!(segment_files(dir.path()).len(), 3);
}

#[test]
fn oversized_records_and_bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        max_record_bytes: 100,
        ..small_segments()
    };
    let journal = Journal::open(dir.path(), options).unwrap();
    assert!(matches!(
        journal.append(&[0; 101]),
        Err(JournalError::RecordTooLarge { len: 101, max: 100 })
    ));
    let bad = JournalOptions {
        max_record_bytes: 2 << 20,
        max_batch_bytes: 1 << 20,
        ..JournalOptions::default()
    };
    let other = tempfile::tempdir().unwrap();
    assert!(matches!(
        Journal::open(other.path(), bad),
        Err(JournalError::InvalidOptions(_))
    ));
}

#[test]
fn concurrent_appenders_get_unique_offsets_and_every_ack_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let writers: Vec<_> = (0..16u64)
        .map(|writer| {
            let journal = journal.clone();
            let acked = acked.clone();
            thread::spawn(move || {
                for seq in 0..200u64 {
                    let offset = journal
                        .append(&payload(writer, seq))
                        .unwrap()
                        .wait()
                        .unwrap();
                    let previous = acked.lock().unwrap().insert(offset, (writer, seq));
                    assert!(previous.is_none(), "offset {offset} acknowledged twice");
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    let acked = acked.lock().unwrap();
    assert_eq!(acked.len(), 16 * 200);
    let records = read_all(&journal, 0);
    assert_eq!(records.len(), acked.len());
    for record in &records {
        let (writer, seq) = acked[&record.offset];
        assert_eq!(
            record.payload,
            payload(writer, seq),
            "offset {}",
            record.offset
        );
    }
    // Each writer's records appear in the order it appended them.
    let mut last_seq = BTreeMap::new();
    for record in &records {
        let (writer, seq) = author(&record.payload).unwrap();
        if let Some(previous) = last_seq.insert(writer, seq) {
            assert!(seq > previous);
        }
    }
}

/// Writes five records, closes, and returns the newest segment's bytes and where its last
/// record starts.
fn five_records(dir: &Path) -> (PathBuf, Vec<u8>, usize) {
    let journal = Journal::open(dir, JournalOptions::default()).unwrap();
    fill(&journal, 9, 0..5);
    journal.close().unwrap();
    drop(journal);
    let segment = segment_files(dir).pop().unwrap();
    let bytes = fs::read(&segment).unwrap();
    let last_record = 16 + payload(9, 4).len();
    let start = bytes.len() - last_record;
    (segment, bytes, start)
}

fn assert_recovered_four_then_appends(dir: &Path, expected_truncated: u64, position: u64) {
    let journal = Journal::open(dir, JournalOptions::default()).unwrap();
    let recovery = journal.recovery().clone();
    assert_eq!(recovery.truncated_bytes, expected_truncated);
    assert_eq!(recovery.last_offset, Some(3));
    assert_eq!(recovery.next_offset, 4);
    if expected_truncated > 0 {
        assert_eq!(recovery.torn_tail.as_ref().unwrap().position, position);
    }
    // The journal continues at offset 4 with the new record, and everything reads back.
    assert_eq!(journal.append(b"replacement").unwrap().wait().unwrap(), 4);
    let records = read_all(&journal, 0);
    assert_eq!(records.len(), 5);
    for (seq, record) in records.iter().take(4).enumerate() {
        assert_eq!(record.payload, payload(9, seq as u64));
    }
    assert_eq!(records[4].payload, b"replacement");
}

#[test]
fn torn_tail_truncated_at_every_position_of_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, bytes, start) = five_records(dir.path());
    for cut in start..bytes.len() {
        fs::write(&segment, &bytes[..cut]).unwrap();
        assert_recovered_four_then_appends(dir.path(), (cut - start) as u64, start as u64);
    }
}

#[test]
fn torn_tail_with_a_flipped_byte_at_every_position_of_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, bytes, start) = five_records(dir.path());
    for position in start..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0xA5;
        fs::write(&segment, &damaged).unwrap();
        let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let torn = journal
            .recovery()
            .torn_tail
            .clone()
            .expect("damage is found");
        assert_eq!(torn.position, start as u64, "flip at {position}");
        assert!(
            matches!(
                torn.damage,
                Damage::ChecksumMismatch | Damage::ShortPayload | Damage::PartialHeader
            ),
            "flip at {position}: {:?}",
            torn.damage
        );
        drop(journal);
        fs::write(&segment, &damaged).unwrap();
        assert_recovered_four_then_appends(dir.path(), (bytes.len() - start) as u64, start as u64);
    }
}

#[test]
fn garbage_after_the_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, mut bytes, start) = five_records(dir.path());
    let clean_len = bytes.len();
    bytes.extend_from_slice(&[0u8; 4096]); // a crash can leave zero-filled pages behind
    fs::write(&segment, &bytes).unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(journal.recovery().truncated_bytes, 4096);
    assert_eq!(journal.recovery().last_offset, Some(4));
    assert_eq!(fs::metadata(&segment).unwrap().len(), clean_len as u64);
    assert!(start < clean_len);
}

#[test]
fn a_segment_torn_inside_its_header_restarts_at_its_base() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    fill(&journal, 2, 0..50);
    drop(journal);
    // Simulate a crash right after creating the next segment, before its header was durable.
    let files = segment_files(dir.path());
    let next_base = 50u64;
    let newest = dir.path().join(format!("{next_base:020}.seg"));
    assert!(!files.contains(&newest));
    let mut header = b"VGLJ\x01\0\0\0".to_vec();
    header.extend_from_slice(&next_base.to_le_bytes());
    for cut in 0..16 {
        fs::write(&newest, &header[..cut]).unwrap();
        let journal = Journal::open(dir.path(), small_segments()).unwrap();
        assert_eq!(journal.recovery().next_offset, next_base, "cut {cut}");
        assert_eq!(journal.recovery().truncated_bytes, cut as u64);
        assert_eq!(read_all(&journal, 0).len(), 50);
        drop(journal);
    }
    // The file's size made it to disk but not its bytes: a zero-filled page.
    fs::write(&newest, vec![0u8; 4096]).unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(journal.recovery().next_offset, next_base);
    assert_eq!(journal.recovery().truncated_bytes, 4096);
    assert_eq!(journal.append(b"next").unwrap().wait().unwrap(), next_base);
    drop(journal);
    // A foreign file under a segment name is refused, naming it.
    fs::write(&newest, b"not a journal segment at all").unwrap();
    let err = Journal::open(dir.path(), small_segments()).unwrap_err();
    assert!(matches!(err, JournalError::BadSegment { .. }), "{err}");
    assert!(err.to_string().contains(&newest.display().to_string()));
}

#[test]
fn reopen_after_a_torn_multi_segment_journal_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    fill(&journal, 3, 0..120);
    drop(journal);
    let newest = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&newest).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(journal.recovery().last_offset, Some(118));
    fill(&journal, 3, 119..200);
    let records = read_all(&journal, 0);
    assert_eq!(records.len(), 200);
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.offset, i as u64);
        assert_eq!(record.payload, payload(3, i as u64));
    }
}

#[test]
fn corruption_in_an_older_segment_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    fill(&journal, 4, 0..100);
    let files = segment_files(dir.path());
    let damaged = &files[1];
    let mut bytes = fs::read(damaged).unwrap();
    let position = bytes.len() / 2;
    bytes[position] ^= 0xFF;
    fs::write(damaged, &bytes).unwrap();
    let next_base: u64 = files[2]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for item in journal.read_from(0) {
        match item {
            Ok(record) => ok.push(record.offset),
            Err(err) => errors.push(err),
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        JournalError::Corrupt {
            segment,
            position: at,
            resume_at,
            ..
        } => {
            assert_eq!(segment, damaged);
            assert!(*at as usize <= position);
            assert_eq!(*resume_at, Some(next_base));
            let message = errors[0].to_string();
            assert!(
                message.contains(&damaged.display().to_string()),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Everything outside the damaged segment's tail was still read, in order.
    assert_eq!(*ok.last().unwrap(), 99);
    assert!(ok.windows(2).all(|w| w[0] < w[1]));
    assert!(!ok.contains(&(next_base - 1)));
    assert!(ok.contains(&next_base));
}

#[test]
fn consumers_commit_and_resume_exactly_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(journal.register_consumer("detect").unwrap(), 0);
    assert_eq!(journal.register_consumer("lake").unwrap(), 0);
    fill(&journal, 5, 0..100);

    let mut reader = journal.read_from(0);
    for _ in 0..40 {
        reader.next().unwrap().unwrap();
    }
    assert_eq!(reader.position(), 40);
    journal
        .commit_consumer("detect", reader.position())
        .unwrap();
    journal.commit_consumer("lake", 7).unwrap();
    assert!(matches!(
        journal.commit_consumer("detect", 101),
        Err(JournalError::CommitBeyondEnd {
            durable_end: 100,
            ..
        })
    ));
    assert!(matches!(
        journal.commit_consumer("../etc", 1),
        Err(JournalError::InvalidConsumerName { .. })
    ));
    journal.close().unwrap();
    drop((reader, journal));

    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(journal.register_consumer("detect").unwrap(), 40);
    assert_eq!(journal.consumer_offset("lake"), Some(7));
    let resumed = read_all(&journal, 40);
    assert_eq!(resumed.first().unwrap().offset, 40);
    assert_eq!(resumed.first().unwrap().payload, payload(5, 40));
    assert_eq!(resumed.len(), 60);
    assert_eq!(
        journal.consumers(),
        BTreeMap::from([("detect".to_string(), 40), ("lake".to_string(), 7)])
    );
}

#[test]
fn a_caught_up_reader_waits_for_new_records_without_polling() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let consumer = {
        let journal = journal.clone();
        thread::spawn(move || {
            let mut reader = journal.read_from(0);
            let mut seen = Vec::new();
            while seen.len() < 50 {
                match reader.next() {
                    Some(record) => seen.push(record.unwrap().payload),
                    None => {
                        journal.when_durable(reader.position()).wait().unwrap();
                    }
                }
            }
            seen
        })
    };
    for seq in 0..50 {
        journal.append(&payload(6, seq)).unwrap().wait().unwrap();
    }
    let seen = consumer.join().unwrap();
    assert_eq!(seen, (0..50).map(|s| payload(6, s)).collect::<Vec<_>>());
}

#[test]
fn retention_removes_only_fully_consumed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    fill(&journal, 7, 0..200);
    let before = segment_files(dir.path());
    let bases: Vec<u64> = before
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();

    // No consumer registered: nothing is removed.
    let report = journal
        .apply_retention(&RetentionPolicy::default())
        .unwrap();
    assert!(report.removed_segments.is_empty());

    journal.register_consumer("detect").unwrap();
    journal.register_consumer("lake").unwrap();
    journal.commit_consumer("detect", 190).unwrap();
    // "lake" stops one record short of the end of the fourth segment.
    let lake_at = bases[4] - 1;
    journal.commit_consumer("lake", lake_at).unwrap();
    let report = journal
        .apply_retention(&RetentionPolicy::default())
        .unwrap();
    assert_eq!(report.removed_segments, before[..3].to_vec());
    assert_eq!(report.first_offset, bases[3]);
    assert_eq!(report.unconsumed_records_removed, 0);
    assert_eq!(segment_files(dir.path()), before[3..].to_vec());
    assert_eq!(journal.first_offset(), bases[3]);
    assert_eq!(read_all(&journal, lake_at).first().unwrap().offset, lake_at);

    // Reading a removed offset says so and continues at the oldest stored one.
    let mut reader = journal.read_from(0);
    match reader.next().unwrap() {
        Err(JournalError::OffsetRemoved {
            requested: 0,
            first_available,
        }) => assert_eq!(first_available, bases[3]),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(reader.next().unwrap().unwrap().offset, bases[3]);

    // Everything consumed: all but the segment being written go.
    journal.commit_consumer("detect", 200).unwrap();
    journal.commit_consumer("lake", 200).unwrap();
    journal
        .apply_retention(&RetentionPolicy::default())
        .unwrap();
    assert_eq!(
        segment_files(dir.path()),
        before[before.len() - 1..].to_vec()
    );
}

#[test]
fn retention_by_age_counts_what_was_dropped_unread() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    journal.register_consumer("detect").unwrap();
    fill(&journal, 8, 0..60);
    let files = segment_files(dir.path());
    let second_base: u64 = files[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&files[0])
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_secs(600)),
    };
    let report = journal.apply_retention(&policy).unwrap();
    assert_eq!(report.removed_segments, vec![files[0].clone()]);
    assert_eq!(report.unconsumed_records_removed, second_base);
    assert_eq!(report.first_offset, second_base);
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), JournalOptions::default()),
        Err(JournalError::Locked { .. })
    ));
    drop(journal);
    Journal::open(dir.path(), JournalOptions::default()).unwrap();
}

#[test]
fn appends_after_close_are_refused_and_queued_ones_are_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let tickets: Vec<_> = (0..100)
        .map(|seq| journal.append(&payload(10, seq)).unwrap())
        .collect();
    journal.close().unwrap();
    for (seq, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(ticket.wait().unwrap(), seq as u64);
    }
    assert!(matches!(journal.append(b"late"), Err(JournalError::Closed)));
    assert!(matches!(
        journal.when_durable(100).wait(),
        Err(JournalError::Closed)
    ));
}

#[test]
fn tickets_and_tail_waits_are_futures_for_tokio() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seen = runtime.block_on(async {
        let consumer = {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut reader = journal.read_from(0);
                let mut seen = HashSet::new();
                while seen.len() < 400 {
                    match reader.next() {
                        Some(record) => {
                            seen.insert(record.unwrap().offset);
                        }
                        None => {
                            journal.when_durable(reader.position()).await.unwrap();
                        }
                    }
                }
                seen
            })
        };
        let mut producers = Vec::new();
        for writer in 0..40u64 {
            let journal = journal.clone();
            producers.push(tokio::spawn(async move {
                let mut offsets = Vec::new();
                for seq in 0..10 {
                    let ticket = journal.try_append(&payload(writer, seq)).unwrap();
                    offsets.push(ticket.await.unwrap());
                }
                offsets
            }));
        }
        let mut acked = HashSet::new();
        for producer in producers {
            for offset in producer.await.unwrap() {
                assert!(acked.insert(offset));
            }
        }
        let seen = consumer.await.unwrap();
        assert_eq!(seen, acked);
        seen
    });
    assert_eq!(seen.len(), 400);
}

// ---- crash test -------------------------------------------------------------------------

const CRASH_DIR_ENV: &str = "VIGIL_JOURNAL_CRASH_CHILD_DIR";
const CRASH_RUN_ENV: &str = "VIGIL_JOURNAL_CRASH_CHILD_RUN";
const CRASH_WRITERS: u64 = 6;

fn crash_options() -> JournalOptions {
    JournalOptions {
        segment_bytes: 64 * 1024,
        ..JournalOptions::default()
    }
}

/// The child side of the crash test: does nothing in a normal run. Re-executed with the
/// environment variables set, it appends from several threads forever and prints
/// `ACK <offset> <writer> <seq>` after each acknowledgement, while a consumer thread reads
/// along and prints `COMMITTED <offset>` after each consumer commit, until it is killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR_ENV) else {
        return;
    };
    let run: u64 = std::env::var(CRASH_RUN_ENV).unwrap().parse().unwrap();
    let journal = Journal::open(&dir, crash_options()).unwrap();
    println!("OPENED {}", journal.recovery().next_offset);
    let consumer = journal.clone();
    thread::spawn(move || {
        let mut reader = consumer.read_from(consumer.register_consumer("detect").unwrap());
        loop {
            for record in reader.by_ref().take(50) {
                record.unwrap();
            }
            let position = reader.position();
            consumer.commit_consumer("detect", position).unwrap();
            println!("COMMITTED {position}");
            consumer.when_durable(position).wait().unwrap();
        }
    });
    let writers: Vec<_> = (0..CRASH_WRITERS)
        .map(|w| {
            let journal = journal.clone();
            let writer = run * 100 + w;
            thread::spawn(move || {
                for seq in 0.. {
                    let offset = journal
                        .append(&payload(writer, seq))
                        .unwrap()
                        .wait()
                        .unwrap();
                    println!("ACK {offset} {writer} {seq}");
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
}

#[test]
fn acknowledged_records_survive_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let random = std::collections::hash_map::RandomState::new();
    let mut acked: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut committed = 0u64;
    for run in 1..=6u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CRASH_DIR_ENV, dir.path())
            .env(CRASH_RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack_tx, first_ack_rx) = std::sync::mpsc::channel();
        let collector = thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut lines = Vec::new();
            let mut line = String::new();
            // A line cut short by the kill has no newline and is ignored.
            while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.starts_with("ACK ") && line.ends_with('\n') {
                    let _ = first_ack_tx.send(()); // only the first one is waited for
                    lines.push(line.trim_end().to_owned());
                } else if line.starts_with("COMMITTED ") && line.ends_with('\n') {
                    lines.push(line.trim_end().to_owned());
                }
                line.clear();
            }
            lines
        });
        first_ack_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the child acknowledges appends");
        // Kill at a random moment 0–400 ms into the run.
        let delay = random.hash_one(run) % 400;
        thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = collector.join().unwrap();
        assert!(!lines.is_empty());
        for line in lines {
            if let Some(position) = line.strip_prefix("COMMITTED ") {
                committed = committed.max(position.parse().unwrap());
                continue;
            }
            let fields: Vec<u64> = line[4..].split(' ').map(|f| f.parse().unwrap()).collect();
            if let [offset, writer, seq] = fields[..] {
                let previous = acked.insert(offset, (writer, seq));
                assert!(previous.is_none(), "offset {offset} acknowledged twice");
            }
        }

        let journal = Journal::open(dir.path(), crash_options()).unwrap();
        let recovery = journal.recovery().clone();
        eprintln!(
            "run {run}: killed after {delay} ms; {} acks so far; consumer committed {committed}; \
             recovery {recovery:?}",
            acked.len()
        );
        let max_acked = *acked.keys().next_back().unwrap();
        assert!(
            recovery.next_offset > max_acked,
            "run {run}: acked {max_acked} but recovered only up to {recovery:?}"
        );
        // The consumer offset is never behind what it reported, nor past the journal's end.
        let detect = journal.consumer_offset("detect").unwrap();
        assert!(
            (committed..=recovery.next_offset).contains(&detect),
            "run {run}: consumer at {detect}, committed {committed}, end {}",
            recovery.next_offset
        );
        let records = read_all(&journal, 0);
        assert_eq!(records.len() as u64, recovery.next_offset);
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.offset, i as u64);
            // Acked or not, every surviving record is whole.
            let (writer, seq) = author(&record.payload).expect("record names its writer");
            assert_eq!(record.payload, payload(writer, seq), "offset {i}");
        }
        for (&offset, &(writer, seq)) in &acked {
            assert_eq!(
                records[offset as usize].payload,
                payload(writer, seq),
                "run {run}: acknowledged offset {offset} lost or changed"
            );
        }
        journal.close().unwrap();
    }
    assert!(acked.len() > 6);
}

#[test]
fn lost_acknowledged_records_are_reported_and_no_consumer_skips_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    journal.register_consumer("detect").unwrap();
    fill(&journal, 11, 0..10);
    journal.commit_consumer("detect", 10).unwrap();
    drop(journal);
    // Lose the last three records at a clean record boundary (a disk that ignored flushes).
    let segment = segment_files(dir.path()).pop().unwrap();
    let keep: u64 = 16
        + (0..7)
            .map(|s| 16 + payload(11, s).len() as u64)
            .sum::<u64>();
    fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(keep)
        .unwrap();

    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let recovery = journal.recovery().clone();
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(recovery.lost_offsets, Some(7..10));
    assert_eq!(recovery.next_offset, 10);
    assert_eq!(journal.append(b"new").unwrap().wait().unwrap(), 10);
    // The consumer resumes at 10 and sees the new record.
    let resumed = read_all(&journal, journal.consumer_offset("detect").unwrap());
    assert_eq!(
        resumed,
        vec![Record {
            offset: 10,
            payload: b"new".to_vec()
        }]
    );
    // A reader from the start is told about the gap, then continues after it.
    let items: Vec<_> = journal.read_from(0).collect();
    assert_eq!(items.len(), 9);
    assert!(matches!(
        &items[7],
        Err(JournalError::Corrupt {
            offset: 7,
            resume_at: Some(10),
            ..
        })
    ));
    assert_eq!(items[8].as_ref().unwrap().offset, 10);
}

#[test]
fn stats_show_group_commit_batching() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), small_segments()).unwrap();
    fill(&journal, 12, 0..100);
    let stats = journal.stats();
    assert_eq!(stats.records, 100);
    assert_eq!(stats.durable_end, 100);
    assert_eq!(stats.next_offset, 100);
    assert_eq!(stats.queued_bytes, 0);
    assert!(stats.batches >= 1 && stats.batches <= 100);
    assert!(stats.fsyncs >= stats.batches);
    let framed: u64 = (0..100).map(|s| 16 + payload(12, s).len() as u64).sum();
    assert_eq!(stats.bytes_written, framed);
    assert!(stats.segments > 10);
}
