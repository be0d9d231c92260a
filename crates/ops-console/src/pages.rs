//! Console pages (askama, auto-escaped; templates/ops_*.html).

use askama::Template;

pub(crate) struct TenantRow {
    pub merchant_id: String,
    pub store_url: String,
    pub partner: String,
    pub status: String,
    pub health: String,
    pub connected_at: String,
}

#[derive(Template)]
#[template(path = "ops_login.html")]
pub(crate) struct LoginPage {
    pub error: Option<String>,
    pub username: String,
}

#[derive(Template)]
#[template(path = "ops_tenants.html")]
pub(crate) struct TenantsPage {
    pub user: String,
    pub csrf: String,
    pub q: String,
    pub status: String,
    pub statuses: Vec<&'static str>,
    pub rows: Vec<TenantRow>,
    pub next: Option<String>,
    pub total: i64,
}

pub(crate) struct Line {
    pub cells: Vec<String>,
}

pub(crate) struct Section {
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "ops_tenant.html")]
pub(crate) struct TenantPage {
    pub user: String,
    pub admin: bool,
    pub csrf: String,
    pub merchant_id: String,
    pub store_url: String,
    pub status: String,
    pub notice: Option<String>,
    pub sections: Vec<Section>,
    /// The actions that need no input: one button each. Rotate key and revoke have forms of their own.
    pub buttons: Vec<storelink_ops::OpsAction>,
}

#[derive(Template)]
#[template(path = "ops_message.html")]
pub(crate) struct MessagePage {
    pub title: String,
    pub message: String,
}
