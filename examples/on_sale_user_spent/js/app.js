// The reference pipeline: for each user, the average price of their on-sale purchases over the
// last 7 days and the last hour, and their number of purchases over the last week.

import { Avg, Connector, Count, dataset, field } from "volga";

const mysql = new Connector("mysql");
const kafka = new Connector("kafka");

export const User = dataset("User", {
  user_id: field.str({ key: true }),
  registered_at: field.timestamp({ timestamp: true }),
  name: field.str(),
}).source(mysql.table("users"));

export const Order = dataset("Order", {
  buyer_id: field.str({ key: true }),
  product_id: field.str({ key: true }),
  product_type: field.str(),
  purchased_at: field.timestamp({ timestamp: true }),
  product_price: field.float(),
})
  .source(kafka.topic("orders"), { tag: "online" })
  .source(mysql.table("orders"), { tag: "offline" });

export const OnSaleUserSpentInfo = dataset("OnSaleUserSpentInfo", {
  user_id: field.str({ key: true }),
  timestamp: field.timestamp({ timestamp: true }),
  avg_spent_7d: field.float({ optional: true }),
  avg_spent_1h: field.float({ optional: true }),
  num_purchases_1w: field.int(),
}).pipeline([User, Order], (users, orders) => {
  const onSalePurchases = orders.filter((df) => df.product_type.eq("ON_SALE"));

  const perUser = onSalePurchases.join(users, { leftOn: ["buyer_id"], rightOn: ["user_id"] });

  return perUser.groupBy(["user_id"]).aggregate([
    Avg({ on: "product_price", window: "7d", into: "avg_spent_7d" }),
    Avg({ on: "product_price", window: "1h", into: "avg_spent_1h" }),
    Count({ window: "1w", into: "num_purchases_1w" }),
  ]);
});
