"""The reference pipeline: for each user, the average price of their on-sale purchases over the
last 7 days and the last hour, and their number of purchases over the last week."""

import datetime
from typing import Optional

from volga import Avg, Connector, Count, Dataset, dataset, field, pipeline, source

mysql = Connector("mysql")
kafka = Connector("kafka")


@source(mysql.table("users"))
@dataset
class User:
    user_id: str = field(key=True)
    registered_at: datetime.datetime = field(timestamp=True)
    name: str


@source(kafka.topic("orders"), tag="online")
@source(mysql.table("orders"), tag="offline")
@dataset
class Order:
    buyer_id: str = field(key=True)
    product_id: str = field(key=True)
    product_type: str
    purchased_at: datetime.datetime = field(timestamp=True)
    product_price: float


@dataset
class OnSaleUserSpentInfo:
    user_id: str = field(key=True)
    timestamp: datetime.datetime = field(timestamp=True)

    avg_spent_7d: Optional[float]
    avg_spent_1h: Optional[float]
    num_purchases_1w: int

    @pipeline(inputs=[User, Order])
    def gen(cls, users: Dataset, orders: Dataset):
        on_sale_purchases = orders.filter(lambda df: df["product_type"] == "ON_SALE")

        per_user = on_sale_purchases.join(users, left_on=["buyer_id"], right_on=["user_id"])

        return per_user.group_by(keys=["user_id"]).aggregate([
            Avg(on="product_price", window="7d", into="avg_spent_7d"),
            Avg(on="product_price", window="1h", into="avg_spent_1h"),
            Count(window="1w", into="num_purchases_1w"),
        ])
