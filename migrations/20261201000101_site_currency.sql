-- The currency of a site's default price list group (`defaultPriceListGroup.currency.currencyCode`),
-- so catalog prices synced for a site carry their currency.
ALTER TABLE merchant_sites ADD COLUMN currency text CHECK (length(currency) BETWEEN 1 AND 16);
