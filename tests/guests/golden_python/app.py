"""The golden cases (tests/golden) written with the Python SDK: the same datasets, fields and
operators as the Rust pipelines, so that their histories must equal the same expected files."""

from typing import Optional

from volga import (
    Avg, Connector, Count, DataFrame, Distinct, ExpDecaySum, FirstK, Hopping, LastK, Max, Min,
    Quantile, Session, Stddev, Sum, Timestamp, Tumbling, dataset, field, pipeline, source,
)

golden = Connector("golden")


@source(golden.table("events"))
@dataset
class Event:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    region: str
    amount: Optional[float]
    qty: int


@source(golden.table("profiles"))
@dataset
class Profile:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    city: Optional[str]
    tier: int


@source(golden.table("prices"))
@dataset
class Price:
    item: str = field(key=True)
    region: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    price: float


@source(golden.table("baskets"))
@dataset
class Basket:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    items: list[str]


@dataset
class SlidingEdges:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows_10ms: int
    amounts_10ms: int
    sum_10ms: float
    avg_10ms: Optional[float]
    max_qty_5ms: Optional[int]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            Count(window="10ms", into="rows_10ms"),
            Count(on="amount", window="10ms", into="amounts_10ms"),
            Sum(on="amount", window="10ms", into="sum_10ms"),
            Avg(on="amount", window="10ms", into="avg_10ms"),
            Max(on="qty", window="5ms", into="max_qty_5ms"),
        ])


@dataset
class ForeverAggregates:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows: int
    qty: int
    total: float
    mean: Optional[float]
    least: Optional[float]
    most: Optional[float]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            Count(window="forever", into="rows"),
            Sum(on="qty", into="qty"),
            Sum(on="amount", into="total"),
            Avg(on="amount", into="mean"),
            Min(on="amount", into="least"),
            Max(on="amount", into="most"),
        ])


@dataset
class TumblingBuckets:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows_10ms: int
    sum_10ms: float
    avg_20ms: Optional[float]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            Count(window=Tumbling("10ms"), into="rows_10ms"),
            Sum(on="amount", window=Tumbling("10ms"), into="sum_10ms"),
            Avg(on="amount", window=Tumbling("20ms"), into="avg_20ms"),
        ])


@dataset
class HoppingHops:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows_10ms_every_5ms: int
    qty_4ms_every_10ms: int
    max_20ms_every_10ms: Optional[float]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            Count(window=Hopping("10ms", "5ms"), into="rows_10ms_every_5ms"),
            Sum(on="qty", window=Hopping("4ms", "10ms"), into="qty_4ms_every_10ms"),
            Max(on="amount", window=Hopping("20ms", "10ms"), into="max_20ms_every_10ms"),
        ])


@dataset
class SessionGaps:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows_5ms: int
    sum_5ms: float
    max_qty_10ms: Optional[int]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            Count(window=Session("5ms"), into="rows_5ms"),
            Sum(on="amount", window=Session("5ms"), into="sum_5ms"),
            Max(on="qty", window=Session("10ms"), into="max_qty_10ms"),
        ])


@dataset
class SpreadAggregates:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    stddev_20ms: Optional[float]
    items_forever: int
    median_20ms: Optional[float]
    p90_qty_20ms_bucket: Optional[int]
    min_by_quantile: Optional[float]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            Stddev(on="amount", window="20ms", into="stddev_20ms"),
            Distinct(on="item", into="items_forever"),
            Quantile(on="amount", p=0.5, window="20ms", into="median_20ms"),
            Quantile(on="qty", p=0.9, window=Tumbling("20ms"), into="p90_qty_20ms_bucket"),
            Quantile(on="amount", p=0.0, into="min_by_quantile"),
        ])


@dataset
class RecentValues:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    last_qty_20ms: list[int]
    first_items: list[str]
    last_amounts_10ms_bucket: list[float]
    decayed_amount_30ms: float
    last_items: list[str]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["user"]).aggregate([
            LastK(on="qty", k=3, window="20ms", into="last_qty_20ms"),
            FirstK(on="item", k=2, into="first_items"),
            LastK(on="amount", k=2, window=Tumbling("10ms"), into="last_amounts_10ms_bucket"),
            ExpDecaySum(on="amount", half_life="10ms", window="30ms", into="decayed_amount_30ms"),
            LastK(on="item", k=2, into="last_items"),
        ])


@dataset
class AssignedEvent:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    region: str
    amount: Optional[float]
    qty: int
    total: Optional[float]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return (
            events.filter(lambda df: (df["qty"] >= 2) | df["amount"].isnull())
            .assign("total", Optional[float], lambda df: df["amount"] * df["qty"])
            .assign("item", str, lambda df: df["item"].apply(str.upper))
        )


@dataset
class Unit:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    unit: int

    @pipeline(inputs=[Event])
    def gen(cls, events):
        def units(df):
            out = {"user": [], "ts": [], "item": [], "unit": []}
            index = []
            rows = zip(df.index, df["user"], df["ts"], df["item"], df["amount"], df["qty"])
            for i, user, ts, item, amount, qty in rows:
                for unit in range(1, (min(qty, 3) if amount is not None else 0) + 1):
                    for name, value in (("user", user), ("ts", ts), ("item", item), ("unit", unit)):
                        out[name].append(value)
                    index.append(i)
            return DataFrame(out, index)

        return events.transform(units, into=Unit)


@dataset
class EventWithProfile:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    city: Optional[str]
    tier: Optional[int]

    @pipeline(inputs=[Event, Profile])
    def gen(cls, events, profiles):
        return events.select("user", "ts", "item").join(profiles, on=["user"], how="left")


@dataset
class EventOfKnownUser:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    city: Optional[str]
    tier: int

    @pipeline(inputs=[Event, Profile])
    def gen(cls, events, profiles):
        return events.select("user", "ts", "item").join(profiles, on=["user"])


@dataset
class FreshProfile:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    city: Optional[str]
    tier: Optional[int]

    @pipeline(inputs=[Event, Profile])
    def gen(cls, events, profiles):
        return events.select("user", "ts", "item").join(profiles, on=["user"], how="left", within=("5ms", "0s"))


@dataset
class LookaheadProfile:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    city: Optional[str]
    tier: int

    @pipeline(inputs=[Event, Profile])
    def gen(cls, events, profiles):
        return events.select("user", "ts", "item").join(profiles, on=["user"], within=("forever", "3ms"))


@dataset
class PricedEvent:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    product: str
    market: str
    qty: int
    item: str
    region: str
    price: Optional[float]

    @pipeline(inputs=[Event, Price])
    def gen(cls, events, prices):
        renamed = events.select("user", "ts", "item", "region", "qty").rename({"item": "product", "region": "market"})
        return renamed.join(prices, left_on=["market", "product"], right_on=["region", "item"], how="left")


@dataset
class SpendByCity:
    city: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    spent_forever: float
    events_10ms: int

    @pipeline(inputs=[Event, Profile, Price])
    def gen(cls, events, profiles, prices):
        joined = (
            events.select("user", "ts", "item", "region", "qty")
            .join(profiles, on=["user"])
            .join(prices, on=["item", "region"])
            .dropnull("city")
        )
        return joined.group_by(keys=["city"]).aggregate([
            Sum(on="price", into="spent_forever"),
            Count(window="10ms", into="events_10ms"),
        ])


@dataset
class Spend:
    ts: Timestamp = field(timestamp=True)
    buyer: str = field(key=True)
    spent: float

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return (
            events.dropnull("amount")
            .drop("qty", "region")
            .rename({"user": "buyer", "amount": "spent"})
            .select("ts", "buyer", "spent")
        )


@dataset
class EuOrBulk:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    item: str
    region: str
    amount: Optional[float]
    qty: int

    @pipeline(inputs=[Event])
    def gen(cls, events):
        eu = events.filter(lambda df: df["region"] == "eu")
        bulk = events.filter(lambda df: df["qty"] >= 2)
        return eu.union(bulk)


def _event_like(name, build):
    """A dataset with Event's fields computed by `build(events)`."""
    cls = type(
        name,
        (),
        {
            "__annotations__": {
                "user": str, "ts": Timestamp, "item": str, "region": str, "amount": Optional[float], "qty": int,
            },
            "user": field(key=True),
            "ts": field(timestamp=True),
            "gen": pipeline(inputs=[Event])(lambda cls, events: build(events)),
        },
    )
    return dataset(cls)


FirstItem = _event_like("FirstItem", lambda e: e.dedup(by=["user", "item"]))
FirstIn10ms = _event_like("FirstIn10ms", lambda e: e.dedup(by=["user"], window=Tumbling("10ms")))
SessionOpener = _event_like("SessionOpener", lambda e: e.dedup(by=["user"], window=Session("5ms")))
FirstEvent = _event_like("FirstEvent", lambda e: e.group_by(keys=["user"]).first())
LatestEvent = _event_like("LatestEvent", lambda e: e.group_by(keys=["user"]).latest())


@dataset
class RegionRows:
    region: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows_10ms: int

    @pipeline(inputs=[Event])
    def gen(cls, events):
        return events.group_by(keys=["region"]).aggregate([Count(window="10ms", into="rows_10ms")])


@dataset
class RegionRowChanges:
    region: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    rows_10ms: int
    deleted: bool

    @pipeline(inputs=[RegionRows])
    def gen(cls, rows):
        return rows.changelog("deleted")


@dataset
class BasketItem:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    items: Optional[str]

    @pipeline(inputs=[Basket])
    def gen(cls, baskets):
        return baskets.filter(lambda df: df["items"].apply(len) < 4).explode("items")


@dataset
class EventPart:
    user: str = field(key=True)
    ts: Timestamp = field(timestamp=True)
    parts: Optional[int]

    @pipeline(inputs=[Event])
    def gen(cls, events):
        def parts(df):
            return [
                [] if amount is None else [i * 10 for i in range(1, min(qty, 3) + 1)]
                for amount, qty in zip(df["amount"], df["qty"])
            ]

        return events.assign("parts", list[int], parts).select("user", "ts", "parts").explode("parts")
