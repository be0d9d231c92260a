//! Issue 18, item 4: the schema and the code stay ready to be distributed by `merchant_id` (Citus;
//! docs/SCALING.md). Citus itself is not installed here, so these tests check the rules Citus would
//! enforce, on the real migrated schema (`pg_catalog`) and on the SQL in the sources:
//! - every table is classified (distributed by `merchant_id`, reference, or coordinator-local);
//! - a distributed table's primary key and unique indexes include `merchant_id`, and its foreign keys
//!   either point at a reference table or carry `merchant_id` to the colocated table's `merchant_id`;
//! - every statement in `crates/*/src` that reads or writes a distributed table has a `merchant_id`
//!   predicate (router-executable), unless it is one of the documented cross-tenant statements.
//!
//! Each exception is listed here with its reason and named in docs/SCALING.md (checked).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Tables distributed by `merchant_id`, all colocated with `merchants`.
const DISTRIBUTED: &[&str] = &[
    "merchants",
    "merchant_checks",
    "merchant_events",
    "merchant_hosts",
    "merchant_sites",
    "merchant_health",
    "vault_data_keys",
    "vault_secrets",
    "occ_tokens",
    "webhook_slots",
    "webhook_resends",
    "store_callbacks",
    "jobs",
    "job_schedule_state",
    "sync_state",
    "products",
    "skus",
    "inventory",
    "shipping_methods",
    "orders",
    "shipments",
    "returns",
    "change_events",
    "inbound_events",
    "partner_orders",
    "partner_events",
    "partner_deliveries",
    "partner_delivery_attempts",
];

/// Small global tables, replicated to every node.
const REFERENCE: &[&str] = &[
    "partners",
    "partner_redirect_uris",
    "partner_endpoints",
    "partner_endpoint_secrets",
    "job_schedules",
    "return_policies",
];

/// Tables that stay on the coordinator only.
const LOCAL: &[&str] = &["_sqlx_migrations", "audit_log", "ops_users", "ops_sessions", "merchant_status_counts"];

/// Schema exceptions: (constraint or index, reason). Each is named in docs/SCALING.md.
const SCHEMA_ALLOWED: &[(&str, &str)] = &[
    (
        "merchants_partner_id_store_url_key",
        "a store is connected once per partner; under Citus this uniqueness moves to a reference table \
         (partner_id, store_url) -> merchant_id written in the connect transaction",
    ),
    (
        "return_policies_merchant_id_fkey",
        "return policies are per partner (merchant_id NULL) or per merchant, a small reference table; \
         under Citus the foreign key to merchants is dropped and the purge deletes the merchant's policy",
    ),
];

/// Cross-tenant statements: (file or folder, a piece of the statement, reason). Each file is named
/// in docs/SCALING.md.
const CODE_ALLOWED: &[(&str, &str, &str)] = &[
    ("crates/bench/", "", "the benchmark seeds and counts rows of many merchants; not the product"),
    (
        "crates/inbound/src/batch.rs",
        "FROM UNNEST($1::uuid[]",
        "batched webhook ingest: one multi-row insert for several merchants; each row routes by merchant_id",
    ),
    ("crates/inbound/src/store.rs", "processed_at IS NULL AND received_at <", "sweep: inbound safety net"),
    (
        "crates/jobs/src/queue.rs",
        "EXISTS (SELECT 1 FROM merchants m",
        "fragment correlated on jobs.merchant_id, inside statements keyed by (merchant_id, job_id)",
    ),
    ("crates/jobs/src/queue.rs", "FOR UPDATE OF j SKIP LOCKED LIMIT 1", "claim: the oldest due job of any merchant"),
    ("crates/jobs/src/queue.rs", "lease expired", "sweep: expired leases"),
    ("crates/jobs/src/queue.rs", "DELETE FROM jobs WHERE state IN", "retention: finished jobs"),
    ("crates/jobs/src/queue.rs", "count(*) FILTER", "gauge: jobs per kind and state"),
    (
        "crates/jobs/src/schedule.rs",
        "SELECT merchant_id, $1, now() FROM merchants",
        "one-off backfill of a new scheduled kind",
    ),
    ("crates/jobs/src/schedule.rs", "WHERE kind = $1", "one-off move of due times after an interval changed"),
    ("crates/jobs/src/schedule.rs", "INSERT INTO jobs (merchant_id, kind, mode)", "scheduler tick: the due rows"),
    (
        "crates/jobs/src/schedule.rs",
        "UPDATE job_schedule_state s SET next_due_at",
        "scheduler: inactive merchants postponed",
    ),
    (
        "crates/partner-api/src/catalog.rs",
        "FROM merchants m",
        "a partner's merchants: completed by the caller's WHERE (by merchant, or by partner: a fan-out)",
    ),
    ("crates/partner-webhooks/src/deliver.rs", "d.state = 'pending' AND p.enabled", "gauge: pending deliveries"),
    (
        "crates/partner-webhooks/src/endpoints.rs",
        "WHERE d.endpoint_id = $1",
        "an endpoint's delivery log spans its partner's merchants",
    ),
    (
        "crates/partner-webhooks/src/endpoints.rs",
        "WHERE p.partner_id = $1 AND d.endpoint_id = $2",
        "replay by delivery id (a fan-out)",
    ),
    (
        "crates/partner-webhooks/src/endpoints.rs",
        "WHERE endpoint_id = $1 AND state = 'pending'",
        "waking an endpoint's merchants",
    ),
    (
        "crates/partner-webhooks/src/lib.rs",
        "NOT EXISTS (SELECT 1 FROM partner_deliveries d",
        "retention: partner events",
    ),
    ("crates/registrar/src/record.rs", "LIMIT $1 FOR UPDATE SKIP LOCKED", "sweep: slot retry claim"),
    ("crates/registrar/src/resend.rs", "FROM webhook_resends WHERE next_at <= now()", "sweep: resend claim"),
    (
        "crates/sync/src/read.rs",
        "o.merchant_id = t.merchant_id",
        "fragment correlated on t.merchant_id (a page read by merchant)",
    ),
    (
        "crates/sync/src/read.rs",
        "s.merchant_id = t.merchant_id",
        "fragment correlated on t.merchant_id (a page read by merchant)",
    ),
    ("crates/sync/src/state.rs", "FROM unnest($1::text[]) AS k (kind)", "gauge: sync lag per kind"),
    ("crates/tenants/src/merchants.rs", "FROM merchants ORDER BY", "ops list: recent tenants"),
    ("crates/tenants/src/health.rs", "merchant_health h JOIN merchants m", "ops list: a page of merchant_health"),
    ("crates/testkit/", "", "test support seeds and counts rows of many merchants; not the product"),
    ("crates/vault/src/vault.rs", "kek_id", "key rotation: data keys still sealed by an old master key"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scaling_doc() -> String {
    std::fs::read_to_string(repo_root().join("docs/SCALING.md")).expect("docs/SCALING.md")
}

#[tokio::test]
async fn the_migrated_schema_is_distributable_by_merchant_id() {
    let db = storelink_testkit::test_db().await;
    let pool = &db.pool;
    let tables: BTreeSet<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(pool)
            .await
            .expect("tables")
            .into_iter()
            .collect();
    let classified: BTreeSet<String> =
        DISTRIBUTED.iter().chain(REFERENCE).chain(LOCAL).map(|t| (*t).to_owned()).collect();
    let unclassified: Vec<_> = tables.difference(&classified).collect();
    assert!(unclassified.is_empty(), "tables not in the distribution plan (docs/SCALING.md): {unclassified:?}");
    let gone: Vec<_> = classified.difference(&tables).collect();
    assert!(gone.is_empty(), "the plan names tables that do not exist: {gone:?}");

    let doc = scaling_doc();
    for table in DISTRIBUTED.iter().chain(REFERENCE).chain(LOCAL).filter(|t| **t != "_sqlx_migrations") {
        assert!(doc.contains(&format!("`{table}`")), "docs/SCALING.md does not place `{table}`");
    }
    for (name, _) in SCHEMA_ALLOWED {
        assert!(doc.contains(name), "docs/SCALING.md does not explain the exception {name}");
    }

    let mut violations = Vec::new();
    let allowed = |name: &str| SCHEMA_ALLOWED.iter().any(|(n, _)| *n == name);

    // The distribution column: present and NOT NULL.
    for table in DISTRIBUTED {
        let not_null: Option<bool> = sqlx::query_scalar(
            "SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = 'merchant_id'
               AND NOT a.attisdropped",
        )
        .bind(table)
        .fetch_optional(pool)
        .await
        .expect("column");
        if not_null != Some(true) {
            violations.push(format!("{table}: no NOT NULL merchant_id column"));
        }
    }

    // Primary keys and unique indexes of distributed tables include merchant_id.
    let unique: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, x.indisprimary,
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indrelid AND a.attname = 'merchant_id'
                          AND a.attnum = ANY (x.indkey::int2[]))
         FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND x.indisunique",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    let mut has_primary = BTreeSet::new();
    for (table, index, primary, with_merchant) in unique {
        if !DISTRIBUTED.contains(&table.as_str()) {
            continue;
        }
        if primary {
            has_primary.insert(table.clone());
        }
        if !with_merchant && !allowed(&index) {
            let kind = if primary { "primary key" } else { "unique index" };
            violations.push(format!("{table}: {kind} {index} lacks merchant_id"));
        }
    }
    for table in DISTRIBUTED {
        if !has_primary.contains(*table) {
            violations.push(format!("{table}: no primary key"));
        }
    }

    // Foreign keys: distributed -> reference is fine; distributed -> distributed carries merchant_id to
    // merchant_id (colocated); reference -> distributed is not allowed by Citus.
    let foreign: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.conname::text, s.relname::text, r.relname::text,
                EXISTS (SELECT 1 FROM unnest(c.conkey, c.confkey) AS k (src, dst)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.src
                        JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = k.dst
                        WHERE a.attname = 'merchant_id' AND b.attname = 'merchant_id')
         FROM pg_constraint c JOIN pg_class s ON s.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
         JOIN pg_namespace n ON n.oid = s.relnamespace
         WHERE n.nspname = 'public' AND c.contype = 'f'",
    )
    .fetch_all(pool)
    .await
    .expect("foreign keys");
    for (name, from, to, colocated) in foreign {
        let (from_dist, to_dist) = (DISTRIBUTED.contains(&from.as_str()), DISTRIBUTED.contains(&to.as_str()));
        let bad = match (from_dist, to_dist) {
            (true, true) => !colocated,
            (false, true) => true,
            _ => false,
        };
        if bad && !allowed(&name) {
            violations.push(format!("{from} -> {to}: foreign key {name} does not carry merchant_id to merchant_id"));
        }
    }
    assert!(violations.is_empty(), "not distributable by merchant_id:\n{}", violations.join("\n"));
}

/// The string literals of a Rust source, with the line each starts on (raw strings included; char
/// literals, comments and lifetimes skipped).
fn string_literals(src: &str) -> Vec<(usize, String)> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\''), else a lifetime.
                if bytes.get(i + 1) == Some(&b'\\') {
                    let end = src[i + 3..].find('\'').map_or(bytes.len(), |e| i + 3 + e);
                    i = end + 1;
                    continue;
                }
                let next = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                if bytes.get(i + 1 + next) == Some(&b'\'') {
                    i += next + 2;
                    continue;
                }
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|b| **b == b'#').count();
                if bytes.get(i + 1 + hashes) == Some(&b'"') {
                    let start = i + 2 + hashes;
                    let close = format!("\"{}", "#".repeat(hashes));
                    let end = src[start..].find(&close).map_or(bytes.len(), |e| start + e);
                    out.push((line, src[start..end].to_owned()));
                    line += src[start..end].matches('\n').count();
                    i = end + close.len();
                    continue;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                out.push((line, src[start..end].to_owned()));
                line += src[start..end].matches('\n').count();
                i = end + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A statement on a distributed table that names its merchant: `merchant_id = $n`, `= ANY ($n)`,
/// `(merchant_id, ...) = / IN (... $n ...)`, `IS NOT DISTINCT FROM $n`, or an insert of given values.
fn names_its_merchant(sql: &str) -> bool {
    let predicates = [
        r"(?i)\b(\w+\.)?merchant_id\s*=\s*(ANY\s*\(\s*)?\$\d",
        r"(?i)\(\s*(\w+\.)?merchant_id\s*,[^)]*\)\s*(=|IN)\s*\(?\s*(\$\d|SELECT\s+\*\s+FROM\s+unnest\s*\(\s*\$\d)",
        r"(?i)\bmerchant_id\s+IS\s+NOT\s+DISTINCT\s+FROM\s+\$\d",
    ];
    let insert = regex::Regex::new(r"(?i)INSERT\s+INTO\s+\w+\s*(AS\s+\w+\s*)?\([^)]*\bmerchant_id\b").expect("regex");
    let values = regex::Regex::new(r"(?i)\bVALUES\s*\(|\bSELECT\s+\$\d").expect("regex");
    predicates.iter().any(|p| regex::Regex::new(p).expect("regex").is_match(sql))
        || (insert.is_match(sql) && values.is_match(sql))
}

#[test]
fn every_statement_on_a_tenant_table_names_its_merchant_or_is_a_documented_sweep() {
    let root = repo_root();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).expect("crates").flatten() {
        let src = krate.path().join("src");
        if src.is_dir() {
            rust_sources(&src, &mut files);
        }
    }
    files.sort();
    let tables =
        regex::Regex::new(r"(?i)\b(?:FROM|JOIN|UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+([a-z_]+)").expect("regex");
    let mut used = vec![false; CODE_ALLOWED.len()];
    let mut violations = Vec::new();
    let mut statements = 0;
    for path in files {
        let relative = path.strip_prefix(&root).expect("in repo").to_string_lossy().replace('\\', "/");
        let source = std::fs::read_to_string(&path).expect("source");
        // Unit tests at the end of a file are not the product's statements.
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (line, literal) in string_literals(source) {
            let on: BTreeSet<&str> = tables
                .captures_iter(&literal)
                .filter_map(|c| c.get(1).map(|m| m.as_str()))
                .filter(|t| DISTRIBUTED.contains(t))
                .collect();
            if on.is_empty() {
                continue;
            }
            statements += 1;
            if names_its_merchant(&literal) {
                continue;
            }
            let allowed =
                CODE_ALLOWED.iter().position(|(file, piece, _)| relative.starts_with(file) && literal.contains(piece));
            match allowed {
                Some(at) => used[at] = true,
                None => violations.push(format!(
                    "{relative}:{line} on {on:?}: {}",
                    literal.split_whitespace().collect::<Vec<_>>().join(" ")
                )),
            }
        }
    }
    assert!(statements > 100, "the scan found only {statements} statements: is it reading the sources?");
    assert!(
        violations.is_empty(),
        "statements on distributed tables without a merchant_id predicate (add one, or allow-list the \
         cross-tenant statement here and in docs/SCALING.md):\n{}",
        violations.join("\n")
    );
    let stale: Vec<_> = CODE_ALLOWED.iter().zip(&used).filter(|(_, u)| !**u).map(|(a, _)| (a.0, a.1)).collect();
    assert!(stale.is_empty(), "allow-list entries that match no statement any more: {stale:?}");
    let doc = scaling_doc();
    for (file, _, _) in CODE_ALLOWED {
        assert!(doc.contains(file.trim_end_matches('/')), "docs/SCALING.md does not list the sweeps of {file}");
    }
}

#[test]
fn the_literal_scanner_reads_rust_strings() {
    let src = "let a = 'x'; let b = '\"'; fn f<'a>(s: &'a str) {} // \"not this\"\n\
               let c = \"SELECT 1 \\\" FROM jobs\"; let d = r#\"UPDATE jobs SET \"x\" = 1\"#; let e = br\"x\";";
    let found: Vec<String> = string_literals(src).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        found,
        vec!["SELECT 1 \\\" FROM jobs".to_owned(), "UPDATE jobs SET \"x\" = 1".to_owned(), "x".to_owned()]
    );
    assert!(names_its_merchant("UPDATE jobs SET x = 1 WHERE merchant_id = $1 AND job_id = $2"));
    assert!(names_its_merchant(
        "DELETE FROM t WHERE (t.merchant_id, t.event_id) IN (SELECT * FROM UNNEST($2::uuid[]))"
    ));
    assert!(names_its_merchant("INSERT INTO jobs (merchant_id, kind) VALUES ($1, $2)"));
    assert!(!names_its_merchant("SELECT count(*) FROM jobs j JOIN merchants m ON m.merchant_id = j.merchant_id"));
    assert!(!names_its_merchant("INSERT INTO jobs (merchant_id, kind) SELECT merchant_id, 'x' FROM merchants"));
}
