//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`: seeds, and inputs that once
//! crashed a parser) through the same entry points the cargo-fuzz targets call, so the stable
//! suite keeps exercising them without nightly or libFuzzer.

use std::path::{Path, PathBuf};

use scim_api::fuzzing;

/// A fuzz entry point: raw bytes in, a panic on a finding.
type Entry = fn(&[u8]);

const TARGETS: &[(&str, Entry)] = &[
    ("filter", fuzzing::filter),
    ("attr_path", fuzzing::attr_path),
    ("patch", fuzzing::patch),
    ("user_body", fuzzing::user_body),
    ("group_body", fuzzing::group_body),
];

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_belongs_to_a_fuzz_target_with_an_entry_point() {
    let root = corpus_root();
    for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let name = entry.expect("directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/corpus/{name} has no entry in TARGETS: add its scim_api::fuzzing function"
        );
    }
    let fuzz_targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for (target, _) in TARGETS {
        assert!(
            fuzz_targets.join(format!("{target}.rs")).is_file(),
            "no cargo-fuzz target {target}"
        );
    }
}

#[test]
fn every_corpus_file_replays_without_a_panic() {
    let root = corpus_root();
    for (target, entry) in TARGETS {
        let inputs = files(&root.join(target));
        assert!(
            inputs.len() >= 10,
            "fuzz/corpus/{target} has only {} seeds",
            inputs.len()
        );
        for input in inputs {
            let data = std::fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", input.display());
        }
    }
}
