//! The reference evaluator (`Detection::matches`) on a few representative rules: contains-heavy,
//! regex, keyword, and a wildcard glob, each over a matching and a non-matching event.
//!
//! Rerun: `cargo bench -p vigil-sigma --bench eval`. Also measures parsing the whole SigmaHQ
//! rule set when the corpus is present (`../shared/data` or `VIGIL_CORPUS`).

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vigil_core::{Event, Value};
use vigil_sigma::Rule;
use vigil_sigma::parse::{Document, parse_source};
use vigil_sigma::ruleset::{SigmaConfig, load_rules};

fn rule(detection: &str) -> Rule {
    let src = format!("title: bench\nlogsource:\n  product: windows\ndetection:\n{detection}");
    match parse_source(&src, "bench.yml", &HashMap::new()).items.pop() {
        Some(Ok(Document::Rule(r))) => *r,
        other => panic!("bench rule does not parse: {other:?}"),
    }
}

fn event(cmd: &str) -> Event {
    let mut e = Event::default();
    e.insert("EventID", Value::Int(1));
    e.insert(
        "Channel",
        Value::str("Microsoft-Windows-Sysmon/Operational"),
    );
    e.insert("Computer", Value::str("WS01.example.com"));
    e.insert("User", Value::str("EXAMPLE\\bob"));
    e.insert("ParentImage", Value::str("C:\\Windows\\explorer.exe"));
    e.insert(
        "Image",
        Value::str("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
    );
    e.insert("OriginalFileName", Value::str("PowerShell.EXE"));
    e.insert("CurrentDirectory", Value::str("C:\\Users\\bob\\"));
    e.insert("IntegrityLevel", Value::str("Medium"));
    e.insert(
        "Hashes",
        Value::str("SHA256=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
    );
    e.insert("CommandLine", Value::str(cmd));
    e
}

const CONTAINS: &str = "  selection_img:
    - Image|endswith:
        - '\\powershell.exe'
        - '\\pwsh.exe'
    - OriginalFileName:
        - 'PowerShell.EXE'
        - 'pwsh.dll'
  selection_cli:
    CommandLine|contains:
        - 'DownloadString'
        - 'DownloadFile'
        - 'Invoke-WebRequest'
        - 'iwr '
        - 'Net.WebClient'
        - 'Start-BitsTransfer'
        - 'FromBase64String'
        - 'IEX'
  filter_main:
    ParentImage|endswith: '\\svchost.exe'
  condition: all of selection_* and not filter_main
";

const REGEX: &str = "  selection:
    CommandLine|re: '(?i)\\s-e(nc(odedcommand)?)?\\s+[A-Za-z0-9+/=]{40,}'
  condition: selection
";

const KEYWORDS: &str = "  keywords:
    - 'mimikatz'
    - 'sekurlsa::logonpasswords'
    - 'lsadump::'
    - 'privilege::debug'
  condition: keywords
";

const GLOB: &str = "  selection:
    CommandLine|contains|windash: ' -w hidden '
    Image: 'C:\\Windows\\*\\powershell.exe'
  condition: selection
";

fn bench_eval(c: &mut Criterion) {
    let hit = event(
        "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA IEX",
    );
    let miss = event(
        "powershell.exe -File C:\\scripts\\backup.ps1 -Verbose -Destination \\\\server\\share",
    );
    let mut g = c.benchmark_group("eval");
    for (name, det) in [
        ("contains", CONTAINS),
        ("regex", REGEX),
        ("keywords", KEYWORDS),
        ("glob_windash", GLOB),
    ] {
        let r = rule(det);
        g.bench_function(format!("{name}/hit"), |b| {
            b.iter(|| black_box(&r).matches(black_box(&hit)))
        });
        g.bench_function(format!("{name}/miss"), |b| {
            b.iter(|| black_box(&r).matches(black_box(&miss)))
        });
    }
    g.finish();
}

fn bench_load(c: &mut Criterion) {
    let Some(root) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let paths: Vec<_> = [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-placeholder",
        "rules-compliance",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("sigmahq_all_3780_files", |b| {
        b.iter(|| load_rules(black_box(&paths), &SigmaConfig::default()))
    });
    g.finish();
}

criterion_group!(benches, bench_eval, bench_load);
criterion_main!(benches);
