// A JavaScript pipeline whose filter throws on product type BOOM: the error must reach the user
// with the lambda's name and the guest's own message and stack.

import { Connector, dataset, field } from "volga";

const mysql = new Connector("mysql");

function rejectBoom(productType) {
  if (productType === "BOOM") throw new RangeError("boom: product type BOOM is not allowed");
  return true;
}

const fields = {
  buyer_id: field.str({ key: true }),
  product_id: field.str({ key: true }),
  product_type: field.str(),
  purchased_at: field.timestamp({ timestamp: true }),
  product_price: field.float(),
};

export const Order = dataset("Order", fields).source(mysql.table("orders"));

export const CheckedOrder = dataset("CheckedOrder", fields).pipeline([Order], (orders) =>
  orders.filter((df) => df.product_type.map(rejectBoom)),
);
