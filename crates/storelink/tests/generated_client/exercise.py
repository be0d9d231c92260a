"""Validates the served OpenAPI document with openapi-spec-validator, generates a Python client from
it with openapi-python-client, and exercises that client against the running server (and, behind
it, the OCC simulator). Run by crates/storelink/tests/generated_client.rs; exits non-zero on any
failure, saying what failed.

Usage: exercise.py OPENAPI_JSON WORKDIR BASE_URL BEARER MERCHANT_ID SKU_ID
"""

import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

from openapi_spec_validator import validate

spec_path, workdir, base_url, bearer, merchant_id, sku_id = sys.argv[1:7]
spec = json.loads(Path(spec_path).read_text())
validate(spec)
assert spec["openapi"].startswith("3.1"), spec["openapi"]
assert "sync.completed" in spec["webhooks"], "typed webhooks"

subprocess.run(
    ["openapi-python-client", "generate", "--path", spec_path, "--meta", "none", "--output-path",
     str(Path(workdir) / "storelink_client"), "--overwrite"],
    check=True, cwd=workdir,
)
sys.path.insert(0, workdir)
client_mod = importlib.import_module("storelink_client")
api = lambda name: importlib.import_module(f"storelink_client.api.{name}")
models = importlib.import_module("storelink_client.models")

client = client_mod.AuthenticatedClient(base_url=base_url, token=bearer, raise_on_unexpected_status=True)
merchant = uuid.UUID(merchant_id)

# Products, page by page with cursors: every product once.
seen, cursor, pages = [], None, 0
while True:
    kwargs = {"limit": 7} if cursor is None else {"limit": 7, "cursor": cursor}
    page = api("catalog.list_products").sync(merchant, client=client, **kwargs)
    assert isinstance(page, models.ProductPage), page
    pages += 1
    for product in page.items:
        assert isinstance(product, models.Product)
        assert product.variants and isinstance(product.variants[0], models.Variant)
        assert product.images and product.images[0].url.startswith("http"), product.images
        seen.append(product.product_id)
    if page.next_cursor is None:
        break
    cursor = page.next_cursor
assert len(seen) == len(set(seen)) and len(seen) > 7 and pages > 1, (len(seen), pages)

# An order with its lines.
orders = api("orders.list_orders").sync(merchant, client=client, limit=5)
assert isinstance(orders, models.OrderPage) and orders.items, orders
order = api("orders.get_order").sync(merchant, orders.items[0].order_id, client=client)
assert isinstance(order, models.Order), order
assert order.lines and isinstance(order.lines[0], models.OrderLine), order
assert order.lines[0].quantity > 0 and isinstance(order.status, models.OrderStatus)
assert isinstance(order.totals, models.OrderTotals) and order.totals.total is not None

# Place an order.
address = models.Address(first_name="Ada", last_name="Lovelace", company=None, line1="1 Main St", line2=None,
                         city="Austin", region="TX", postal_code="78701", country="US", phone=None, email=None)
body = models.NewOrder(partner_order_reference="PO-generated", items=[models.OrderItem(sku_id=sku_id, quantity=1)],
                       shipping_method="ship1", shipping_address=address)
placed = api("orders.place_order").sync(merchant, client=client, body=body, idempotency_key="generated-client-1")
assert isinstance(placed, models.PlacedOrder), placed
assert placed.order_id and placed.partner_order_reference == "PO-generated", placed

# A problem+json error arrives as the typed Problem.
missing = api("orders.get_order").sync(merchant, "no-such-order", client=client)
assert isinstance(missing, models.Problem), missing
assert missing.code == "not_found" and missing.status == 404, missing.to_dict()

print(json.dumps({"products": len(seen), "pages": pages, "order": order.order_id, "placed": placed.order_id}))
