// Volga pipelines in JavaScript: datasets, sources and operators, compiled to a WebAssembly
// component by `volga build` (with componentize-js). The same API as the Rust and Python SDKs.

// ---- field types and datasets ------------------------------------------------------------------

const SCALARS = ["int", "float", "str", "boolean", "timestamp"];

/** A field's type and role: `field.str({ key: true })`, `field.float({ optional: true })`,
 * `field.timestamp({ timestamp: true })`, `field.list("str")`. */
export const field = Object.fromEntries(
  SCALARS.map((scalar) => [
    scalar,
    (options = {}) => ({
      kind: options.optional ? "optional" : "scalar",
      scalar,
      key: !!options.key,
      timestamp: !!options.timestamp,
    }),
  ]),
);
field.bool = field.boolean;
field.list = (scalar) => {
  if (!SCALARS.includes(scalar)) throw new TypeError(`unknown item type ${scalar}: use one of ${SCALARS}`);
  return { kind: "list", scalar, key: false, timestamp: false };
};

/** A connector by the name the host's config gives it: `new Connector("mysql")`. */
export class Connector {
  constructor(name) {
    this.name = name;
  }
  /** A table of a database or file connector. */
  table(name) {
    return { connector: this.name, name };
  }
  /** A topic of a streaming connector. */
  topic(name) {
    return { connector: this.name, name };
  }
}

const DATASETS = [];

/** A dataset declared with `dataset(name, fields)`; chain `.source(...)` or `.pipeline(...)`. */
export class DatasetDecl {
  constructor(name, fields) {
    this.name = name;
    this.fields = Object.entries(fields).map(([fieldName, f]) => ({ name: fieldName, ...f }));
    this.sources = [];
    this.inputs = null;
    this.build = null;
  }
  /** Reads the dataset from a connector's table or topic, optionally under a tag. */
  source(ref, options = {}) {
    this.sources.push({ ...ref, tag: options.tag });
    return this;
  }
  /** Computes the dataset from `inputs` (datasets): `build(...streams)` returns a stream. */
  pipeline(inputs, build) {
    this.inputs = inputs;
    this.build = build;
    return this;
  }
}

/** Declares a dataset: its name and fields (in order), one of them the timestamp. */
export function dataset(name, fields) {
  const decl = new DatasetDecl(name, fields);
  DATASETS.push(decl);
  return decl;
}

// ---- windows and aggregates --------------------------------------------------------------------

/** The last closed bucket of this width. */
export const Tumbling = (width) => ({ tag: "tumbling", val: width });
/** The last closed hop of `width`, hops every `stride`. */
export const Hopping = (width, stride) => ({ tag: "hopping", val: [width, stride] });
/** The key's last closed session. */
export const Session = (gap) => ({ tag: "session", val: gap });

function windowOf(window) {
  if (window === undefined || window === "forever") return { tag: "forever" };
  if (typeof window === "string") return { tag: "sliding", val: window };
  return window;
}

function aggregate(tag, param) {
  return ({ on, window, into, ...rest } = {}) => {
    if (!into) throw new TypeError(`${tag}: name the output field with into`);
    const value = param ? rest[param] : undefined;
    const kind = param === undefined ? { tag } : { tag, val: value };
    return { kind, on, window: windowOf(window), into };
  };
}

export const Count = aggregate("count");
export const Sum = aggregate("sum");
export const Avg = aggregate("avg");
export const Min = aggregate("min");
export const Max = aggregate("max");
export const Stddev = aggregate("stddev");
export const Distinct = aggregate("distinct");
export const Quantile = aggregate("quantile", "p");
export const LastK = aggregate("last-k", "k");
export const FirstK = aggregate("first-k", "k");
export const ExpDecaySum = aggregate("exp-decay-sum", "half_life");

// ---- the operator graph ------------------------------------------------------------------------

const NODES = []; // { kind, inputs: [index], params }
const LAMBDAS = []; // { id, kind, name, fn, output }

function push(kind, inputs, params = {}) {
  NODES.push({ kind, inputs, params });
  return NODES.length - 1;
}

/** `file:line` of the user code that called an operator, for lambda names. */
function callerLocation() {
  const lines = (new Error().stack || "").split("\n");
  // Frames: this function, register, the operator, then the caller.
  const frame = lines[3] || "";
  const match = frame.match(/([^/\s(@]+\.[jt]s):(\d+)/);
  return match ? `${match[1]}:${match[2]}` : `#${LAMBDAS.length}`;
}

function register(kind, fn, output) {
  const name = `${kind} at ${callerLocation()}`;
  LAMBDAS.push({ id: LAMBDAS.length, kind, name, fn, output });
  return LAMBDAS.length - 1;
}

const names = (fields) => (fields === undefined ? [] : typeof fields === "string" ? [fields] : [...fields]);

/** Rows inside a pipeline: an input dataset, or the output of an operator. */
export class Stream {
  constructor(node) {
    this.node = node;
  }
  #then(kind, others, params) {
    return new Stream(push(kind, [this.node, ...others.map((o) => o.node)], params));
  }
  /** Keeps the rows where `fn(df)` is true (a boolean column or array). */
  filter(fn) {
    return this.#then("filter", [], { lambda: register("filter", fn) });
  }
  /** Maps the batch to rows of dataset `into`: `fn(df)` returns a frame with its columns. */
  transform(fn, into) {
    return this.#then("transform", [], { lambda: register("transform", fn, into) });
  }
  /** Adds (or replaces) field `name` of type `type` (`field.int()`...) with `fn(df)`. */
  assign(name, type, fn) {
    return this.#then("assign", [], { lambda: register("assign", fn, { name, type }) });
  }
  /** As-of join with keyed dataset `other`: `{ on }` or `{ leftOn, rightOn }`, `how`
   * ("inner" or "left"), `within: [back, forward]`. */
  join(other, { on, leftOn, rightOn, how = "inner", within } = {}) {
    if (how !== "inner" && how !== "left") throw new TypeError(`how: ${how}; use "inner" or "left"`);
    return this.#then("join", [other], {
      leftOn: names(leftOn ?? on),
      rightOn: names(rightOn ?? on),
      how,
      within: within ? [String(within[0]), String(within[1])] : undefined,
    });
  }
  /** Keeps only these fields, in this order. */
  select(...fields) {
    return this.#then("project", [], { select: fields.flat(), drop: [], rename: [] });
  }
  /** Removes these fields. */
  drop(...fields) {
    return this.#then("project", [], { select: undefined, drop: fields.flat(), rename: [] });
  }
  /** Renames fields: `{ from: "to" }`. */
  rename(columns) {
    return this.#then("project", [], { select: undefined, drop: [], rename: Object.entries(columns) });
  }
  /** Drops rows with a null in these fields (every optional field when none). */
  dropnull(...fields) {
    return this.#then("dropnull", [], { fields: fields.flat() });
  }
  /** One row per item of list field `name`, which becomes optional. */
  explode(name) {
    return this.#then("explode", [], { field: name });
  }
  /** The rows of this stream and of `others` (same fields). */
  union(...others) {
    return this.#then("union", others, {});
  }
  /** The first row of each combination of `by` values: ever, per Tumbling bucket or Session. */
  dedup(by, window) {
    return this.#then("dedup", [], { by: names(by), window: windowOf(window) });
  }
  /** The changes of a keyed dataset as events, with boolean field `deleted`. */
  changelog(deleted) {
    return this.#then("changelog", [], { deleted });
  }
  /** Groups by key fields, for aggregate, first and latest. */
  groupBy(keys) {
    const stream = this;
    const grouped = (kind, params) => new Stream(push(kind, [stream.node], { keys: names(keys), ...params }));
    return {
      aggregate: (aggregates) => grouped("aggregate", { aggregates }),
      first: () => grouped("first", {}),
      latest: () => grouped("latest", {}),
    };
  }
}

// ---- the batch a lambda sees -------------------------------------------------------------------

const NULL_FALSE = (op) => (a, b) => (a === null || b === null ? false : op(a, b));
const NULL_NULL = (op) => (a, b) => (a === null || b === null ? null : op(a, b));

/** The values of one field over a batch's rows (`null` for null). Comparisons give masks. */
export class Column {
  constructor(values) {
    this.values = values;
  }
  get length() {
    return this.values.length;
  }
  #zip(other, op) {
    if (other instanceof Column) {
      if (other.length !== this.length) throw new RangeError(`columns of ${this.length} and ${other.length} values`);
      return new Column(this.values.map((v, i) => op(v, other.values[i])));
    }
    return new Column(this.values.map((v) => op(v, other)));
  }
  eq(o) { return this.#zip(o, NULL_FALSE((a, b) => a === b)); }
  ne(o) { return this.#zip(o, NULL_FALSE((a, b) => a !== b)); }
  lt(o) { return this.#zip(o, NULL_FALSE((a, b) => a < b)); }
  le(o) { return this.#zip(o, NULL_FALSE((a, b) => a <= b)); }
  gt(o) { return this.#zip(o, NULL_FALSE((a, b) => a > b)); }
  ge(o) { return this.#zip(o, NULL_FALSE((a, b) => a >= b)); }
  add(o) { return this.#zip(o, NULL_NULL((a, b) => a + b)); }
  sub(o) { return this.#zip(o, NULL_NULL((a, b) => a - b)); }
  mul(o) { return this.#zip(o, NULL_NULL((a, b) => a * b)); }
  div(o) { return this.#zip(o, NULL_NULL((a, b) => a / b)); }
  and(o) { return this.#zip(o, NULL_FALSE((a, b) => !!a && !!b)); }
  or(o) { return this.#zip(o, NULL_FALSE((a, b) => !!a || !!b)); }
  not() { return new Column(this.values.map((v) => !v)); }
  isNull() { return new Column(this.values.map((v) => v === null)); }
  notNull() { return new Column(this.values.map((v) => v !== null)); }
  isIn(values) {
    const set = new Set(values);
    return new Column(this.values.map((v) => set.has(v)));
  }
  fillNull(value) { return new Column(this.values.map((v) => (v === null ? value : v))); }
  /** `fn` of each non-null value (null stays null). */
  map(fn) { return new Column(this.values.map((v) => (v === null ? null : fn(v)))); }
  toArray() { return [...this.values]; }
}

/** Named columns of equal length, and for each row the index of its input row. Columns are
 * properties: `df.product_type` or `df["product_type"]`; `df.where(mask)` keeps rows. A column
 * given as a function is made on first use only (a lambda pays for the columns it reads). */
export class Frame {
  constructor(columns, index) {
    const entries = Object.entries(columns).map(([k, v]) => [
      k,
      v instanceof Column || typeof v === "function" ? v : new Column([...v]),
    ]);
    const made = entries.find(([, v]) => v instanceof Column);
    const n = made ? made[1].length : (index ?? []).length;
    this.columns = Object.fromEntries(entries);
    this.index = index ?? [...Array(n).keys()];
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (typeof prop === "string" && !(prop in target) && prop in target.columns) return target.col(prop);
        return Reflect.get(target, prop, receiver);
      },
    });
  }
  get length() {
    return this.index.length;
  }
  /** The column `name`. */
  col(name) {
    let column = this.columns[name];
    if (!column) throw new RangeError(`no column ${name}; the batch has ${Object.keys(this.columns)}`);
    if (typeof column === "function") column = this.columns[name] = column();
    return column;
  }
  /** The rows where `mask` is true. */
  where(mask) {
    const m = mask instanceof Column ? mask.values : mask;
    const keep = m.flatMap((v, i) => (v ? [i] : []));
    const columns = Object.fromEntries(
      Object.keys(this.columns).map((k) => [k, () => new Column(keep.map((i) => this.col(k).values[i]))]),
    );
    return new Frame(columns, keep.map((i) => this.index[i]));
  }
  /** A frame with `name` set to `values` (a column, an array, or one value for every row). */
  with(name, values) {
    const column = values instanceof Column ? values : Array.isArray(values) ? new Column(values) : new Column(this.index.map(() => values));
    return new Frame({ ...this.columns, [name]: column }, this.index);
  }
}

// ---- the component's exports -------------------------------------------------------------------

let NAME = "pipeline";
const SDK = "volga-guest-js 0.1.0";

/** Names the component (`volga build` does this from package.json). */
export function setName(name) {
  NAME = name;
}

const fieldDef = (f) => ({ name: f.name, ty: { tag: f.kind, val: f.scalar }, key: f.key, timestamp: f.timestamp });

function wireNode({ kind, inputs, params: p }, at) {
  const one = inputs.length ? at(inputs[0]) : undefined;
  switch (kind) {
    case "input":
      return { tag: "input", val: p.dataset };
    case "filter":
    case "transform":
    case "assign":
      return { tag: kind, val: { input: one, lambda: p.lambda } };
    case "join":
      return {
        tag: "join",
        val: { left: one, right: at(inputs[1]), leftOn: p.leftOn, rightOn: p.rightOn, how: p.how, within: p.within },
      };
    case "aggregate":
      return { tag: "aggregate", val: { input: one, keys: p.keys, aggregates: p.aggregates } };
    case "project":
      return { tag: "project", val: { input: one, select: p.select, drop: p.drop, rename: p.rename } };
    case "dropnull":
      return { tag: "dropnull", val: { input: one, fields: p.fields } };
    case "union":
      return { tag: "union", val: new Uint32Array(inputs.map(at)) };
    case "first":
    case "latest":
      return { tag: kind, val: { input: one, keys: p.keys } };
    case "dedup":
      return { tag: "dedup", val: { input: one, by: p.by, window: p.window } };
    case "changelog":
      return { tag: "changelog", val: { input: one, deleted: p.deleted } };
    case "explode":
      return { tag: "explode", val: { input: one, field: p.field } };
    default:
      throw new Error(`unknown node ${kind}`);
  }
}

function pipelineDef(output) {
  const used = new Set();
  const stack = [output];
  while (stack.length) {
    const n = stack.pop();
    if (!used.has(n)) {
      used.add(n);
      stack.push(...NODES[n].inputs);
    }
  }
  const renumber = new Map();
  const nodes = [];
  const inputs = [];
  NODES.forEach((node, index) => {
    if (!used.has(index)) return;
    renumber.set(index, nodes.length);
    if (node.kind === "input" && !inputs.includes(node.params.dataset)) inputs.push(node.params.dataset);
    nodes.push(wireNode(node, (i) => renumber.get(i)));
  });
  return { inputs, nodes, output: renumber.get(output) };
}

let SPEC = null;

function spec() {
  if (SPEC === null) {
    const datasets = DATASETS.map((d) => {
      let pipeline;
      if (d.build) {
        const streams = d.inputs.map((input) => new Stream(push("input", [], { dataset: input.name })));
        const result = d.build(...streams);
        if (!(result instanceof Stream)) throw new TypeError(`the pipeline of ${d.name} must return a stream`);
        pipeline = pipelineDef(result.node);
      }
      const sources = d.sources.map((s) => ({ connector: s.connector, name: s.name, tag: s.tag }));
      return { name: d.name, fields: d.fields.map(fieldDef), sources, pipeline };
    });
    const lambdas = LAMBDAS.map((l) => ({
      id: l.id,
      name: l.name,
      kind: l.kind,
      input: undefined,
      output:
        l.kind === "transform"
          ? l.output.fields.map(fieldDef)
          : l.kind === "assign"
            ? [fieldDef({ name: l.output.name, ...l.output.type, key: false, timestamp: false })]
            : undefined,
    }));
    SPEC = { name: NAME, sdk: SDK, datasets, lambdas };
  }
  return SPEC;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function splitStrings({ bytes, offsets }) {
  const count = offsets.length - 1;
  if (count > 0 && offsets[count] === bytes.length) {
    // ASCII (byte offsets are character offsets): slice the string itself.
    const out = new Array(count);
    for (let i = 0; i < count; i++) out[i] = bytes.slice(offsets[i], offsets[i + 1]);
    return out;
  }
  const data = encoder.encode(bytes);
  const out = new Array(offsets.length - 1);
  for (let i = 0; i + 1 < offsets.length; i++) out[i] = decoder.decode(data.subarray(offsets[i], offsets[i + 1]));
  return out;
}

// Ints cross as 64-bit BigInts; lambdas see Numbers when exact, BigInts beyond 2^53.
const fromBig = (v) => (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v);

function valuesOf(data) {
  switch (data.tag) {
    case "str":
      return splitStrings(data.val);
    case "int":
    case "timestamp":
      return Array.from(data.val, fromBig);
    case "float":
    case "boolean":
      return Array.from(data.val);
    case "list": {
      const items = valuesOf(data.val.items);
      const o = data.val.offsets;
      const out = new Array(o.length - 1);
      for (let i = 0; i + 1 < o.length; i++) out[i] = items.slice(o[i], o[i + 1]);
      return out;
    }
    default:
      throw new Error(`unknown column data ${data.tag}`);
  }
}

function frameOf(batch) {
  const columns = {};
  batch.names.forEach((name, i) => {
    const column = batch.columns[i];
    columns[name] = () => {
      let values = valuesOf(column.data);
      if (column.nulls) values = values.map((v, j) => (column.nulls[j] ? null : v));
      return new Column(values);
    };
  });
  return new Frame(columns, [...Array(batch.len).keys()]);
}

const PLACEHOLDER = { int: 0, float: 0, str: "", boolean: false, timestamp: 0 };

function scalarData(scalar, values) {
  switch (scalar) {
    case "str": {
      const parts = values.map((v) => encoder.encode(String(v)));
      const offsets = new Uint32Array(parts.length + 1);
      parts.forEach((p, i) => (offsets[i + 1] = offsets[i] + p.length));
      const all = new Uint8Array(offsets[parts.length]);
      parts.forEach((p, i) => all.set(p, offsets[i]));
      return { tag: "str", val: { bytes: decoder.decode(all), offsets } };
    }
    case "float":
      return { tag: "float", val: Float64Array.from(values, Number) };
    case "boolean":
      return { tag: "boolean", val: values.map(Boolean) };
    default:
      return { tag: scalar, val: BigInt64Array.from(values, (v) => (typeof v === "bigint" ? v : BigInt(Math.trunc(v)))) };
  }
}

function columnOf(name, type, values) {
  if (type.kind === "list") {
    const offsets = new Uint32Array(values.length + 1);
    const items = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) throw new TypeError(`field ${name}: a list field cannot be null (use [])`);
      items.push(...v);
      offsets[i + 1] = items.length;
    });
    return { data: { tag: "list", val: { offsets, items: scalarData(type.scalar, items) } }, nulls: undefined };
  }
  const nulls = values.map((v) => v === null || v === undefined);
  if (type.kind !== "optional" && nulls.some(Boolean)) throw new TypeError(`field ${name} is not optional but has a null`);
  const filled = values.map((v, i) => (nulls[i] ? PLACEHOLDER[type.scalar] : v));
  return { data: scalarData(type.scalar, filled), nulls: type.kind === "optional" ? nulls : undefined };
}

function call(lambda, kind, run) {
  spec();
  const l = LAMBDAS[lambda];
  if (!l || l.kind !== kind) throw `lambda ${lambda} is not a ${kind}`;
  try {
    return run(l);
  } catch (error) {
    // The guest's own message and stack go to the host as the call's error.
    throw error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}`.trim() : String(error);
  }
}

/** The component's `guest` export. */
export const guest = {
  describe: () => spec(),
  filter(lambda, rows) {
    return call(lambda, "filter", (l) => {
      const out = l.fn(frameOf(rows));
      const mask = out instanceof Column ? out.values : Array.from(out);
      if (mask.length !== rows.len) throw new RangeError(`the filter returned ${mask.length} values for ${rows.len} rows`);
      return mask.map(Boolean);
    });
  },
  transform(lambda, rows) {
    return call(lambda, "transform", (l) => {
      const out = l.fn(frameOf(rows));
      if (!(out instanceof Frame)) throw new TypeError("a transform must return a Frame");
      const fields = l.output.fields;
      const columns = fields.map((f) => columnOf(f.name, f, out.col(f.name).values));
      return {
        rows: { len: out.length, names: fields.map((f) => f.name), columns },
        inputIndex: Uint32Array.from(out.index),
      };
    });
  },
  assign(lambda, rows) {
    return call(lambda, "assign", (l) => {
      const out = l.fn(frameOf(rows));
      const values = out instanceof Column ? out.values : Array.from(out);
      if (values.length !== rows.len) throw new RangeError(`the assign returned ${values.length} values for ${rows.len} rows`);
      return columnOf(l.output.name, l.output.type, values);
    });
  },
};
