-- Returns opened by partners (POST /v1/merchants/{id}/returns) take an Idempotency-Key like orders,
-- through the same key rows. A key belongs to one kind of request, so the same key may name an order
-- and a return. For a return, order_id holds the return request's id.
ALTER TABLE partner_orders ADD COLUMN scope text NOT NULL DEFAULT 'order' CHECK (scope IN ('order', 'return'));
ALTER TABLE partner_orders DROP CONSTRAINT partner_orders_pkey;
ALTER TABLE partner_orders ADD PRIMARY KEY (merchant_id, scope, idempotency_key);
