//! Lists and point reads over OData v2 (`$top`/`$skip`, `$inlinecount`, `$expand`, `$filter` on
//! `modifiedtime`), mapped into Storelink's records. (Filled in by the sync work of issue 17.)

use storelink_connector::{ConnectorError, Page, PageRequest, Records, Session, SiteScope};
use storelink_core::SyncKind;

use crate::client::SapClient;

pub async fn list(_client: &SapClient, _session: &Session, _page: PageRequest<'_>) -> Result<Page, ConnectorError> {
    Err(ConnectorError::Unsupported("listing (not built yet)"))
}

pub async fn read(
    _client: &SapClient,
    _session: &Session,
    _kind: SyncKind,
    _product_id: &str,
    _site: Option<SiteScope<'_>>,
) -> Result<Records, ConnectorError> {
    Err(ConnectorError::Unsupported("point reads (not built yet)"))
}
