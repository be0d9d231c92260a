//! `storelink sync status|run`: per merchant and kind, what the sync workers have done, and a way to
//! run one sync now with a progress bar.

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{JobState, Mode, Worker, WorkerConfig};
use storelink_sync::{SyncHandler, SyncStatus};
use tokio_util::sync::CancellationToken;

use crate::server::Services;

#[derive(clap::Subcommand)]
pub enum SyncCommand {
    /// Per merchant and kind: state, items done of total, last success, last error.
    Status {
        #[arg(long)]
        merchant: Option<MerchantId>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Enqueue a sync now; with --wait, run it in this process and show its progress.
    Run {
        #[arg(long)]
        merchant: MerchantId,
        #[arg(long)]
        kind: SyncKind,
        /// Incremental instead of full.
        #[arg(long)]
        incremental: bool,
        #[arg(long)]
        wait: bool,
    },
}

/// `sync status`: reads only the sync tables, so it needs no master key.
pub async fn status(pool: &sqlx::PgPool, merchant: Option<MerchantId>, json: bool) -> anyhow::Result<()> {
    let rows = storelink_sync::status(pool, merchant).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows);
    }
    Ok(())
}

pub async fn run(command: SyncCommand, services: Services) -> anyhow::Result<()> {
    match command {
        SyncCommand::Status { merchant, json } => status(&services.pool, merchant, json).await,
        SyncCommand::Run { merchant, kind, incremental, wait } => {
            let found = storelink_tenants::merchants::get(&services.pool, merchant).await?;
            let found = found.with_context(|| format!("no merchant {merchant}"))?;
            if found.status != storelink_tenants::MerchantStatus::Active {
                anyhow::bail!(
                    "merchant {merchant} is {}; its jobs are skipped until it is active",
                    found.status.as_str()
                );
            }
            let mode = if incremental { Mode::Incremental } else { Mode::Full };
            let job_id = services.queue.enqueue(merchant, kind.as_str(), mode).await?;
            println!("job {job_id}: {kind} {} sync for merchant {merchant}", mode.as_str());
            if wait { run_and_watch(&services, merchant, kind, job_id).await } else { Ok(()) }
        }
    }
}

async fn run_and_watch(services: &Services, merchant: MerchantId, kind: SyncKind, job_id: i64) -> anyhow::Result<()> {
    let handler = SyncHandler::new(services.pool.clone(), services.tokens.clone(), services.queue.clone());
    let config = WorkerConfig { concurrency: 2, ..WorkerConfig::new(vec![kind.as_str().to_owned()]) };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(services.queue.clone(), handler, config).run(shutdown.clone()));
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} items ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("{kind}"));
    let state = loop {
        let job = services.queue.get(merchant, job_id).await?.context("the job disappeared")?;
        if let Some(s) =
            storelink_sync::status(&services.pool, Some(merchant)).await?.into_iter().find(|s| s.kind == kind.as_str())
        {
            bar.set_length(s.items_total.unwrap_or(s.items_done).max(s.items_done) as u64);
            bar.set_position(s.items_done as u64);
        }
        if job.state.is_finished() || job.state == JobState::Paused {
            break job;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => { bar.abandon_with_message("interrupted; the job continues in any running worker"); break job; }
        }
    };
    shutdown.cancel();
    let _ = worker.await;
    match state.state {
        JobState::Succeeded => {
            bar.finish_with_message(format!("{kind} done"));
            Ok(())
        }
        other => {
            bar.abandon();
            anyhow::bail!("job {job_id} is {}: {}", other.as_str(), state.last_error.unwrap_or_default())
        }
    }
}

fn print_table(rows: &[SyncStatus]) {
    if rows.is_empty() {
        println!("no syncs yet");
        return;
    }
    println!(
        "{:<36}  {:<9}  {:<7}  {:<11}  {:>17}  {:<20}  LAST ERROR",
        "MERCHANT", "KIND", "STATE", "MODE", "ITEMS", "LAST SUCCESS"
    );
    for r in rows {
        let items = match r.items_total {
            Some(total) => format!("{}/{}", r.items_done, total),
            None => r.items_done.to_string(),
        };
        let success =
            r.last_success_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "never".into());
        println!(
            "{:<36}  {:<9}  {:<7}  {:<11}  {:>17}  {:<20}  {}",
            r.merchant_id.to_string(),
            r.kind,
            r.state,
            r.mode,
            items,
            success,
            r.last_error.as_deref().unwrap_or("")
        );
    }
}
