// The golden cases (tests/golden) written with the JavaScript SDK: the same datasets, fields and
// operators as the Rust pipelines, so that their histories must equal the same expected files.

import {
  Avg, Column, Connector, Count, Distinct, ExpDecaySum, FirstK, Frame, Hopping, LastK, Max, Min,
  Quantile, Session, Stddev, Sum, Tumbling, dataset, field,
} from "volga";

const golden = new Connector("golden");

const eventFields = {
  user: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  item: field.str(),
  region: field.str(),
  amount: field.float({ optional: true }),
  qty: field.int(),
};

export const Event = dataset("Event", eventFields).source(golden.table("events"));

export const Profile = dataset("Profile", {
  user: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  city: field.str({ optional: true }),
  tier: field.int(),
}).source(golden.table("profiles"));

export const Price = dataset("Price", {
  item: field.str({ key: true }),
  region: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  price: field.float(),
}).source(golden.table("prices"));

export const Basket = dataset("Basket", {
  user: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  items: field.list("str"),
}).source(golden.table("baskets"));

const keyed = (fields) => ({ user: field.str({ key: true }), ts: field.timestamp({ timestamp: true }), ...fields });
const byUser = (aggregates) => (events) => events.groupBy(["user"]).aggregate(aggregates);

dataset(
  "SlidingEdges",
  keyed({
    rows_10ms: field.int(),
    amounts_10ms: field.int(),
    sum_10ms: field.float(),
    avg_10ms: field.float({ optional: true }),
    max_qty_5ms: field.int({ optional: true }),
  }),
).pipeline(
  [Event],
  byUser([
    Count({ window: "10ms", into: "rows_10ms" }),
    Count({ on: "amount", window: "10ms", into: "amounts_10ms" }),
    Sum({ on: "amount", window: "10ms", into: "sum_10ms" }),
    Avg({ on: "amount", window: "10ms", into: "avg_10ms" }),
    Max({ on: "qty", window: "5ms", into: "max_qty_5ms" }),
  ]),
);

dataset(
  "ForeverAggregates",
  keyed({
    rows: field.int(),
    qty: field.int(),
    total: field.float(),
    mean: field.float({ optional: true }),
    least: field.float({ optional: true }),
    most: field.float({ optional: true }),
  }),
).pipeline(
  [Event],
  byUser([
    Count({ window: "forever", into: "rows" }),
    Sum({ on: "qty", into: "qty" }),
    Sum({ on: "amount", into: "total" }),
    Avg({ on: "amount", into: "mean" }),
    Min({ on: "amount", into: "least" }),
    Max({ on: "amount", into: "most" }),
  ]),
);

dataset(
  "TumblingBuckets",
  keyed({ rows_10ms: field.int(), sum_10ms: field.float(), avg_20ms: field.float({ optional: true }) }),
).pipeline(
  [Event],
  byUser([
    Count({ window: Tumbling("10ms"), into: "rows_10ms" }),
    Sum({ on: "amount", window: Tumbling("10ms"), into: "sum_10ms" }),
    Avg({ on: "amount", window: Tumbling("20ms"), into: "avg_20ms" }),
  ]),
);

dataset(
  "HoppingHops",
  keyed({
    rows_10ms_every_5ms: field.int(),
    qty_4ms_every_10ms: field.int(),
    max_20ms_every_10ms: field.float({ optional: true }),
  }),
).pipeline(
  [Event],
  byUser([
    Count({ window: Hopping("10ms", "5ms"), into: "rows_10ms_every_5ms" }),
    Sum({ on: "qty", window: Hopping("4ms", "10ms"), into: "qty_4ms_every_10ms" }),
    Max({ on: "amount", window: Hopping("20ms", "10ms"), into: "max_20ms_every_10ms" }),
  ]),
);

dataset(
  "SessionGaps",
  keyed({ rows_5ms: field.int(), sum_5ms: field.float(), max_qty_10ms: field.int({ optional: true }) }),
).pipeline(
  [Event],
  byUser([
    Count({ window: Session("5ms"), into: "rows_5ms" }),
    Sum({ on: "amount", window: Session("5ms"), into: "sum_5ms" }),
    Max({ on: "qty", window: Session("10ms"), into: "max_qty_10ms" }),
  ]),
);

dataset(
  "SpreadAggregates",
  keyed({
    stddev_20ms: field.float({ optional: true }),
    items_forever: field.int(),
    median_20ms: field.float({ optional: true }),
    p90_qty_20ms_bucket: field.int({ optional: true }),
    min_by_quantile: field.float({ optional: true }),
  }),
).pipeline(
  [Event],
  byUser([
    Stddev({ on: "amount", window: "20ms", into: "stddev_20ms" }),
    Distinct({ on: "item", into: "items_forever" }),
    Quantile({ on: "amount", p: 0.5, window: "20ms", into: "median_20ms" }),
    Quantile({ on: "qty", p: 0.9, window: Tumbling("20ms"), into: "p90_qty_20ms_bucket" }),
    Quantile({ on: "amount", p: 0.0, into: "min_by_quantile" }),
  ]),
);

dataset(
  "RecentValues",
  keyed({
    last_qty_20ms: field.list("int"),
    first_items: field.list("str"),
    last_amounts_10ms_bucket: field.list("float"),
    decayed_amount_30ms: field.float(),
    last_items: field.list("str"),
  }),
).pipeline(
  [Event],
  byUser([
    LastK({ on: "qty", k: 3, window: "20ms", into: "last_qty_20ms" }),
    FirstK({ on: "item", k: 2, into: "first_items" }),
    LastK({ on: "amount", k: 2, window: Tumbling("10ms"), into: "last_amounts_10ms_bucket" }),
    ExpDecaySum({ on: "amount", half_life: "10ms", window: "30ms", into: "decayed_amount_30ms" }),
    LastK({ on: "item", k: 2, into: "last_items" }),
  ]),
);

dataset("AssignedEvent", { ...eventFields, total: field.float({ optional: true }) }).pipeline([Event], (events) =>
  events
    .filter((df) => df.qty.ge(2).or(df.amount.isNull()))
    .assign("total", field.float({ optional: true }), (df) => df.amount.mul(df.qty))
    .assign("item", field.str(), (df) => df.item.map((s) => s.toUpperCase())),
);

export const Unit = dataset("Unit", keyed({ item: field.str(), unit: field.int() }));
Unit.pipeline([Event], (events) =>
  events.transform((df) => {
    const out = { user: [], ts: [], item: [], unit: [] };
    const index = [];
    for (let i = 0; i < df.length; i++) {
      const units = df.amount.values[i] === null ? 0 : Math.min(df.qty.values[i], 3);
      for (let unit = 1; unit <= units; unit++) {
        out.user.push(df.user.values[i]);
        out.ts.push(df.ts.values[i]);
        out.item.push(df.item.values[i]);
        out.unit.push(unit);
        index.push(df.index[i]);
      }
    }
    return new Frame(out, index);
  }, Unit),
);

const withProfile = (tier) => keyed({ item: field.str(), city: field.str({ optional: true }), tier });
const userItem = (events) => events.select("user", "ts", "item");

dataset("EventWithProfile", withProfile(field.int({ optional: true }))).pipeline([Event, Profile], (events, profiles) =>
  userItem(events).join(profiles, { on: ["user"], how: "left" }),
);
dataset("EventOfKnownUser", withProfile(field.int())).pipeline([Event, Profile], (events, profiles) =>
  userItem(events).join(profiles, { on: ["user"] }),
);
dataset("FreshProfile", withProfile(field.int({ optional: true }))).pipeline([Event, Profile], (events, profiles) =>
  userItem(events).join(profiles, { on: ["user"], how: "left", within: ["5ms", "0s"] }),
);
dataset("LookaheadProfile", withProfile(field.int())).pipeline([Event, Profile], (events, profiles) =>
  userItem(events).join(profiles, { on: ["user"], within: ["forever", "3ms"] }),
);

dataset(
  "PricedEvent",
  keyed({
    product: field.str(),
    market: field.str(),
    qty: field.int(),
    item: field.str(),
    region: field.str(),
    price: field.float({ optional: true }),
  }),
).pipeline([Event, Price], (events, prices) =>
  events
    .select("user", "ts", "item", "region", "qty")
    .rename({ item: "product", region: "market" })
    .join(prices, { leftOn: ["market", "product"], rightOn: ["region", "item"], how: "left" }),
);

dataset("SpendByCity", {
  city: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  spent_forever: field.float(),
  events_10ms: field.int(),
}).pipeline([Event, Profile, Price], (events, profiles, prices) =>
  events
    .select("user", "ts", "item", "region", "qty")
    .join(profiles, { on: ["user"] })
    .join(prices, { on: ["item", "region"] })
    .dropnull("city")
    .groupBy(["city"])
    .aggregate([Sum({ on: "price", into: "spent_forever" }), Count({ window: "10ms", into: "events_10ms" })]),
);

dataset("Spend", {
  ts: field.timestamp({ timestamp: true }),
  buyer: field.str({ key: true }),
  spent: field.float(),
}).pipeline([Event], (events) =>
  events.dropnull("amount").drop("qty", "region").rename({ user: "buyer", amount: "spent" }).select("ts", "buyer", "spent"),
);

dataset("EuOrBulk", eventFields).pipeline([Event], (events) =>
  events.filter((df) => df.region.eq("eu")).union(events.filter((df) => df.qty.ge(2))),
);

dataset("FirstItem", eventFields).pipeline([Event], (events) => events.dedup(["user", "item"]));
dataset("FirstIn10ms", eventFields).pipeline([Event], (events) => events.dedup(["user"], Tumbling("10ms")));
dataset("SessionOpener", eventFields).pipeline([Event], (events) => events.dedup(["user"], Session("5ms")));
dataset("FirstEvent", eventFields).pipeline([Event], (events) => events.groupBy(["user"]).first());
dataset("LatestEvent", eventFields).pipeline([Event], (events) => events.groupBy(["user"]).latest());

const RegionRows = dataset("RegionRows", {
  region: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  rows_10ms: field.int(),
}).pipeline([Event], (events) =>
  events.groupBy(["region"]).aggregate([Count({ window: "10ms", into: "rows_10ms" })]),
);
dataset("RegionRowChanges", {
  region: field.str({ key: true }),
  ts: field.timestamp({ timestamp: true }),
  rows_10ms: field.int(),
  deleted: field.boolean(),
}).pipeline([RegionRows], (rows) => rows.changelog("deleted"));

dataset("BasketItem", keyed({ items: field.str({ optional: true }) })).pipeline([Basket], (baskets) =>
  baskets.filter((df) => df.items.map((items) => items.length).lt(4)).explode("items"),
);

dataset("EventPart", keyed({ parts: field.int({ optional: true }) })).pipeline([Event], (events) =>
  events
    .assign("parts", field.list("int"), (df) =>
      new Column(
        df.amount.values.map((amount, i) =>
          amount === null ? [] : Array.from({ length: Math.min(df.qty.values[i], 3) }, (_, j) => (j + 1) * 10),
        ),
      ),
    )
    .select("user", "ts", "parts")
    .explode("parts"),
);
