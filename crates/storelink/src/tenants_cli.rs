//! `storelink tenants ...`: the ops actions from the command line, audited as `cli:<user>`.

use std::collections::HashMap;
use std::io::Read;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use storelink_core::{MerchantId, SyncKind};
use storelink_ops::{Actor, OpsAction};

use crate::server::Services;

#[derive(clap::Subcommand)]
pub enum TenantsCommand {
    /// Revoke: unregister webhooks, crypto-shred the key and secrets, cancel jobs, tell the partner.
    Revoke {
        merchant: MerchantId,
        /// Also delete the synced catalog, orders and events (default: keep them).
        #[arg(long)]
        purge: bool,
    },
    /// Rotate the merchant's credentials, read from standard input (never from argv): the key alone
    /// (OCC), or a JSON object of the connect form's fields (SAP: `{"sap_auth": "oauth",
    /// "sap_client_id": "..", "sap_client_secret": ".."}`).
    #[command(visible_alias = "rotate")]
    RotateKey {
        merchant: MerchantId,
    },
    Pause {
        merchant: MerchantId,
    },
    Resume {
        merchant: MerchantId,
    },
    /// A full sync of one kind now.
    Resync {
        merchant: MerchantId,
        #[arg(long)]
        kind: SyncKind,
    },
    /// Register the four webhook slots again now.
    RetrySlots {
        merchant: MerchantId,
    },
    /// Override where the merchant's store answers: the admin host (logins, Admin API) and the
    /// storefront host (agent API, placing orders); `--clear` drops both overrides first.
    SetStoreHosts {
        merchant: MerchantId,
        #[arg(long)]
        admin: Option<String>,
        #[arg(long)]
        storefront: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// The audit trail (newest first), for one merchant or all.
    Audit {
        #[arg(long)]
        merchant: Option<MerchantId>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

impl TenantsCommand {
    /// The audited action the command runs (`audit` only reads).
    pub fn action(&self) -> Option<OpsAction> {
        match self {
            TenantsCommand::Revoke { .. } => Some(OpsAction::Revoke),
            TenantsCommand::RotateKey { .. } => Some(OpsAction::RotateKey),
            TenantsCommand::Pause { .. } => Some(OpsAction::Pause),
            TenantsCommand::Resume { .. } => Some(OpsAction::Resume),
            TenantsCommand::Resync { kind, .. } => Some(OpsAction::resync(*kind)),
            TenantsCommand::RetrySlots { .. } => Some(OpsAction::RetrySlots),
            TenantsCommand::SetStoreHosts { .. } => Some(OpsAction::SetStoreHosts),
            TenantsCommand::Audit { .. } => None,
        }
    }
}

pub async fn run(command: TenantsCommand, services: Services) -> anyhow::Result<()> {
    let ops = services.ops();
    let actor = Actor::cli();
    let print = |value: serde_json::Value| println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    match command {
        TenantsCommand::Revoke { merchant, purge } => {
            print(serde_json::to_value(ops.revoke(&actor, merchant, purge).await?)?)
        }
        TenantsCommand::RotateKey { merchant } => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).context("reading the new credentials from standard input")?;
            let fields = credential_fields(&ops, merchant, input).await?;
            print(serde_json::to_value(ops.rotate_fields(&actor, merchant, &fields).await?)?);
        }
        TenantsCommand::Pause { merchant } => {
            print(serde_json::json!({"jobs_paused": ops.pause(&actor, merchant).await?}))
        }
        TenantsCommand::Resume { merchant } => {
            print(serde_json::json!({"jobs_resumed": ops.resume(&actor, merchant).await?}))
        }
        TenantsCommand::Resync { merchant, kind } => {
            print(serde_json::json!({"job_id": ops.resync(&actor, merchant, kind).await?}))
        }
        TenantsCommand::RetrySlots { merchant } => {
            print(serde_json::json!({"slots_registered": ops.retry_slots(&actor, merchant).await?}))
        }
        TenantsCommand::SetStoreHosts { merchant, admin, storefront, clear } => {
            let hosts = ops.set_store_hosts(&actor, merchant, admin.as_deref(), storefront.as_deref(), clear).await?;
            print(serde_json::to_value(hosts)?)
        }
        TenantsCommand::Audit { merchant, limit } => return audit(&services.pool, merchant, limit).await,
    }
    Ok(())
}

/// The connect form's fields from the operator's input: a JSON object of them, or the key alone,
/// given to the platform's one secret field.
async fn credential_fields(
    ops: &storelink_ops::Ops,
    merchant: MerchantId,
    input: String,
) -> anyhow::Result<HashMap<String, String>> {
    let input = SecretString::from(input);
    let form = ops.credential_fields(merchant).await?;
    let secret = form.iter().find(|f| f.secret).map_or("", |f| f.name);
    Ok(fields_of(input.expose_secret(), secret))
}

fn fields_of(input: &str, secret_field: &str) -> HashMap<String, String> {
    serde_json::from_str(input).unwrap_or_else(|_| HashMap::from([(secret_field.to_owned(), input.trim().to_owned())]))
}

/// `tenants audit`: reads only the audit trail, so it needs no master key.
pub async fn audit(pool: &sqlx::PgPool, merchant: Option<MerchantId>, limit: i64) -> anyhow::Result<()> {
    let rows = storelink_ops::recent(pool, merchant, limit).await?;
    println!("{}", serde_json::to_string_pretty(&rows)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn rotate_reads_a_json_object_of_fields_or_the_key_alone() {
        let sap = fields_of(r#"{"sap_auth": "basic", "sap_user": "storelink", "sap_password": "pw"}"#, "sap_password");
        assert_eq!(sap.get("sap_user").map(String::as_str), Some("storelink"));
        assert_eq!(sap.len(), 3);
        let occ = fields_of("eyJ.key.sig\n", "app_key");
        assert_eq!(occ, HashMap::from([("app_key".to_owned(), "eyJ.key.sig".to_owned())]));
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TenantsCommand,
    }

    /// The command line an operator types for `action`: the audit value in kebab case, a resync
    /// with its `--kind`.
    fn argv(action: OpsAction, merchant: &str) -> Vec<String> {
        let mut argv = vec!["tenants".to_owned()];
        match action.sync_kind() {
            Some(kind) => {
                argv.extend(["resync".to_owned(), merchant.to_owned(), "--kind".to_owned(), kind.to_string()])
            }
            None => argv.extend([action.as_str().replace('_', "-"), merchant.to_owned()]),
        }
        argv
    }

    #[test]
    fn every_ops_action_has_its_command() {
        let merchant = MerchantId::new().to_string();
        for action in OpsAction::ALL {
            let cli = Cli::try_parse_from(argv(action, &merchant))
                .unwrap_or_else(|e| panic!("no command for {action:?}: {e}"));
            assert_eq!(cli.command.action(), Some(action));
        }
        let old = Cli::try_parse_from(["tenants", "rotate", merchant.as_str()]).expect("the old name still works");
        assert_eq!(old.command.action(), Some(OpsAction::RotateKey));
    }
}
