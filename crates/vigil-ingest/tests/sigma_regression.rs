//! SigmaHQ regression data: every case ships the same events as `.evtx` and as evtx_dump
//! `.json`. The Sigma conformance suite runs on both, so both must decode to the same events.

mod common;

use common::{decode_path, files_with_ext};
use vigil_core::corpus::corpus_path;
use vigil_core::{Event, Value};

/// An event's fields as sorted (name, value) pairs, with values in a comparable form.
fn field_set(e: &Event) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = e
        .fields()
        .iter()
        .map(|f| (f.name.as_str().to_string(), format!("{:?}", f.value)))
        .collect();
    out.sort();
    out
}

/// proc_creation_win_susp_right_to_left_override: the `.evtx` has `ParentCommandLine`
/// `C:\\Windows\\Explorer.EXE`, its `.json` `...\\Explorer.exe`.
const KNOWN_CASE_DIFFERENCE: &str = "ad691d92-15f2-4181-9aa4-723c74f9ddc3";

#[test]
fn evtx_and_json_renderings_agree() {
    let Some(dir) = corpus_path("sigma/regression_data") else {
        return;
    };
    let cases = files_with_ext(&dir, "evtx");
    assert_eq!(cases.len(), 202);
    let (mut events, mut mismatches, mut case_only) = (0, Vec::new(), 0);
    for evtx in &cases {
        let json = evtx.with_extension("json");
        let a = decode_path(evtx, 1);
        let b = decode_path(&json, 1);
        assert!(
            a.errors.is_empty() && b.errors.is_empty(),
            "{}: {:?} {:?}",
            evtx.display(),
            a.errors,
            b.errors
        );
        if a.events.len() != b.events.len() {
            mismatches.push(format!(
                "{}: {} evtx events vs {} json",
                evtx.display(),
                a.events.len(),
                b.events.len()
            ));
            continue;
        }
        for (x, y) in a.events.iter().zip(&b.events) {
            assert_eq!(x.logsource, y.logsource);
            if x.time != y.time {
                mismatches.push(format!(
                    "{}: time {:?} vs {:?}",
                    evtx.display(),
                    x.time,
                    y.time
                ));
            }
            let (fx, fy) = (field_set(x), field_set(y));
            if fx != fy {
                let only_x: Vec<_> = fx.iter().filter(|f| !fy.contains(f)).collect();
                let only_y: Vec<_> = fy.iter().filter(|f| !fx.contains(f)).collect();
                // The case's two files themselves differ in letter case (the JSON was edited):
                // compare it case-insensitively, and only that case.
                let lower = |v: &[(String, String)]| -> Vec<(String, String)> {
                    v.iter()
                        .map(|(n, v)| (n.clone(), v.to_lowercase()))
                        .collect()
                };
                let id = evtx.file_stem().unwrap().to_string_lossy().to_string();
                if id == KNOWN_CASE_DIFFERENCE && lower(&fx) == lower(&fy) {
                    case_only += 1;
                    continue;
                }
                mismatches.push(format!(
                    "{}: evtx-only {only_x:?} json-only {only_y:?}",
                    evtx.display()
                ));
            }
            // EventID is an integer in both forms.
            assert!(
                matches!(x.get_str("EventID"), Some(Value::Int(_))),
                "{}",
                evtx.display()
            );
        }
        events += a.events.len();
    }
    for m in &mismatches {
        eprintln!("{m}");
    }
    eprintln!(
        "{} cases, {events} events, {} mismatches",
        cases.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{} cases differ", mismatches.len());
    assert_eq!(
        case_only, 1,
        "the known case-only difference is still there"
    );
    assert_eq!(events, 238);
}
