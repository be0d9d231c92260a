//! Console pages (askama, auto-escaped; templates/ops_*.html).

use askama::Template;

pub(crate) struct TenantRow {
    pub merchant_id: String,
    pub store_url: String,
    pub partner: String,
    pub status: &'static str,
    /// The status as a person reads it ("credentials invalid").
    pub status_label: &'static str,
    pub score: i32,
    /// Why the score is what it is, e.g. "2 failed slots".
    pub reasons: Vec<String>,
    /// "12 min", or empty for a tenant that does not sync (paused, revoked).
    pub lag: String,
    /// `ok`, `warn` or `bad`: the lag's badge.
    pub lag_class: &'static str,
}

/// A count at the top of the list, and the link that filters by it.
pub(crate) struct StatusLink {
    pub id: &'static str,
    pub label: &'static str,
    pub count: String,
    pub href: String,
    pub current: bool,
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
    /// The filter's query value ("", a status, or "needs_attention").
    pub status: String,
    pub sort: &'static str,
    pub links: Vec<StatusLink>,
    /// What the current filter counts ("1 tenant(s) match"), or, for a search, nothing.
    pub matching: Option<String>,
    pub rows: Vec<TenantRow>,
    pub next: Option<String>,
    pub first: Option<String>,
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
    /// The needs-attention summary: score, reasons, lag.
    pub health: Option<TenantRow>,
    /// The last day in hourly bars: syncs, inbound deliveries, failures.
    pub charts: Vec<Chart>,
    pub sections: Vec<Section>,
    /// The actions that need no input: one button each. Rotate key and revoke have forms of their own.
    pub buttons: Vec<storelink_ops::OpsAction>,
    /// The merchant's platform's credential fields, for the rotate form (one secret field: `new_key`).
    pub credential_fields: &'static [storelink_connector::FormField],
}

#[derive(Template)]
#[template(path = "ops_message.html")]
pub(crate) struct MessagePage {
    pub title: String,
    pub message: String,
}

/// One bar of an hourly chart, laid out in Rust so the template only prints numbers.
pub(crate) struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    /// "14:00 UTC: 3", the bar's tooltip and accessible name.
    pub label: String,
}

/// A 24-hour bar chart drawn as inline SVG (no script).
pub(crate) struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub total: i64,
    pub peak: i64,
    pub bars: Vec<Bar>,
    pub tone: &'static str,
}

pub(crate) const CHART_HEIGHT: u32 = 48;
pub(crate) const BAR_STEP: u32 = 12;

impl Chart {
    /// `hours` holds 24 counts, oldest first, and `first_hour` the hour (0-23, UTC) of the first.
    pub(crate) fn hourly(
        id: &'static str,
        title: &'static str,
        tone: &'static str,
        hours: &[i64],
        first_hour: u32,
    ) -> Chart {
        let peak = hours.iter().copied().max().unwrap_or(0);
        let bars = hours
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let i = u32::try_from(i).unwrap_or(0);
                // At least 1px for a non-zero hour, so one event is visible next to a peak of thousands.
                let height = if n <= 0 || peak <= 0 {
                    0
                } else {
                    let scaled = n.saturating_mul(i64::from(CHART_HEIGHT)) / peak;
                    u32::try_from(scaled).unwrap_or(CHART_HEIGHT).clamp(1, CHART_HEIGHT)
                };
                Bar {
                    x: i * BAR_STEP,
                    y: CHART_HEIGHT - height,
                    height,
                    label: format!("{:02}:00 UTC: {n}", (first_hour + i) % 24),
                }
            })
            .collect();
        Chart { id, title, total: hours.iter().sum(), peak, bars, tone }
    }

    pub(crate) fn width(&self) -> u32 {
        u32::try_from(self.bars.len()).unwrap_or(24) * BAR_STEP
    }

    pub(crate) fn height(&self) -> u32 {
        CHART_HEIGHT
    }

    pub(crate) fn bar_width(&self) -> u32 {
        BAR_STEP - 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_peak_and_keep_small_hours_visible() {
        let mut hours = vec![0; 24];
        hours[0] = 1000;
        hours[5] = 1;
        let chart = Chart::hourly("syncs", "Syncs", "ok", &hours, 22);
        assert_eq!((chart.total, chart.peak, chart.bars.len()), (1001, 1000, 24));
        assert_eq!(chart.bars[0].height, CHART_HEIGHT);
        assert_eq!(chart.bars[5].height, 1, "one event still shows");
        assert_eq!(chart.bars[1].height, 0);
        assert_eq!(chart.bars[2].label, "00:00 UTC: 0", "hours wrap at midnight");
        let empty = Chart::hourly("none", "None", "ok", &[0; 24], 0);
        assert!(empty.bars.iter().all(|b| b.height == 0 && b.y == CHART_HEIGHT));
    }
}
