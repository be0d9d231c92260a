//! The deployment files and operator docs against the binary they deploy: every `STORELINK_*`
//! setting they name exists, and every subcommand they run is one `storelink` has. (No container
//! engine runs on the CI machine; `.ci/run` also validates the Kubernetes manifests against the API
//! schemas and the compose file against the compose spec.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use storelink::config::RawConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md"), repo().join("docs/OPERATIONS.md")];
    for dir in ["deploy", "deploy/k8s", "deploy/systemd"] {
        let entries = std::fs::read_dir(repo().join(dir)).expect(dir);
        files.extend(entries.map(|e| e.expect("entry").path()).filter(|p| p.is_file()));
    }
    files
}

/// Every `STORELINK_X` is the env name of a configuration field (`x`), or `STORELINK_CONFIG`.
#[test]
fn every_setting_named_in_deploy_files_and_docs_exists() {
    let config = serde_json::to_value(RawConfig::default()).expect("serialize");
    let known: BTreeSet<String> = config
        .as_object()
        .expect("object")
        .keys()
        .map(|k| format!("STORELINK_{}", k.to_ascii_uppercase()))
        .chain(["STORELINK_CONFIG".to_owned()])
        .collect();
    let mut unknown = Vec::new();
    let mut named = 0;
    for file in files() {
        let text = std::fs::read_to_string(&file).expect("read");
        for (at, _) in text.match_indices("STORELINK_") {
            let name: String =
                text[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            named += 1;
            if !known.contains(name.trim_end_matches('_')) {
                unknown.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(named > 20, "the files name settings ({named} found)");
    assert!(unknown.is_empty(), "settings that do not exist: {unknown:#?}");
}

/// The roles the compose file, the manifests and the systemd units start are real subcommands.
#[test]
fn every_role_the_deploy_files_start_is_a_subcommand() {
    let mut roles = BTreeSet::new();
    for file in files() {
        let text = std::fs::read_to_string(&file).expect("read");
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("ExecStart=") {
                roles.extend(rest.split_whitespace().nth(1).map(str::to_owned));
            }
            for key in ["command: [\"", "args: [\"", "CMD [\""] {
                if let Some(rest) = line.strip_prefix(key) {
                    roles.extend(rest.split('"').next().map(str::to_owned));
                }
            }
        }
    }
    assert_eq!(roles, BTreeSet::from(["migrate".to_owned(), "serve".to_owned(), "worker".to_owned()]));
    for role in &roles {
        let help = Command::new(env!("CARGO_BIN_EXE_storelink")).args([role, "--help"]).output().expect("run");
        assert!(help.status.success(), "`storelink {role}` is not a subcommand");
    }
    let bogus = Command::new(env!("CARGO_BIN_EXE_storelink")).args(["servee", "--help"]).output().expect("run");
    assert!(!bogus.status.success(), "an unknown subcommand is refused");
}
