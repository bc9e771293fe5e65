"""A Python pipeline whose filter raises on product type BOOM: the error must reach the user with
the lambda's name and the guest's own traceback."""

import datetime

from volga import Connector, dataset, field, pipeline, source

mysql = Connector("mysql")


@source(mysql.table("orders"))
@dataset
class Order:
    buyer_id: str = field(key=True)
    product_id: str = field(key=True)
    product_type: str
    purchased_at: datetime.datetime = field(timestamp=True)
    product_price: float


def reject_boom(product_type):
    if product_type == "BOOM":
        raise ValueError("boom: product type BOOM is not allowed")
    return True


@dataset
class CheckedOrder:
    buyer_id: str = field(key=True)
    product_id: str = field(key=True)
    product_type: str
    purchased_at: datetime.datetime = field(timestamp=True)
    product_price: float

    @pipeline(inputs=[Order])
    def gen(cls, orders):
        return orders.filter(lambda df: df["product_type"].apply(reject_boom))
