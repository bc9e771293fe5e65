// Types of the Volga JavaScript guest SDK.

export type Scalar = "int" | "float" | "str" | "boolean" | "timestamp";

/** A field's type and role. */
export interface FieldSpec {
  kind: "scalar" | "optional" | "list";
  scalar: Scalar;
  key: boolean;
  timestamp: boolean;
}

export interface FieldOptions {
  /** Part of the dataset's key. */
  key?: boolean;
  /** The dataset's event-time field (exactly one per dataset). */
  timestamp?: boolean;
  /** The field may be null. */
  optional?: boolean;
}

export declare const field: {
  int(options?: FieldOptions): FieldSpec;
  float(options?: FieldOptions): FieldSpec;
  str(options?: FieldOptions): FieldSpec;
  boolean(options?: FieldOptions): FieldSpec;
  bool(options?: FieldOptions): FieldSpec;
  timestamp(options?: FieldOptions): FieldSpec;
  /** A list of non-null values (never null: an empty list instead). */
  list(item: Scalar): FieldSpec;
};

export interface SourceRef {
  connector: string;
  name: string;
}

/** A connector by the name the host's config gives it. */
export declare class Connector {
  constructor(name: string);
  table(name: string): SourceRef;
  topic(name: string): SourceRef;
}

export declare class DatasetDecl {
  readonly name: string;
  source(ref: SourceRef, options?: { tag?: string }): DatasetDecl;
  pipeline(inputs: DatasetDecl[], build: (...inputs: Stream[]) => Stream): DatasetDecl;
}

/** Declares a dataset: its name and fields in order, one of them the timestamp. */
export declare function dataset(name: string, fields: Record<string, FieldSpec>): DatasetDecl;

export type Window =
  | string
  | { tag: "tumbling"; val: string }
  | { tag: "hopping"; val: [string, string] }
  | { tag: "session"; val: string };

export declare function Tumbling(width: string): Window;
export declare function Hopping(width: string, stride: string): Window;
export declare function Session(gap: string): Window;

export interface AggregateOptions {
  /** The field aggregated; none for a row count. */
  on?: string;
  /** "7d" (sliding), "forever" (the default), Tumbling, Hopping or Session. */
  window?: Window;
  /** The output field. */
  into: string;
}

export interface Aggregate {
  readonly into: string;
}

export declare function Count(options: AggregateOptions): Aggregate;
export declare function Sum(options: AggregateOptions): Aggregate;
export declare function Avg(options: AggregateOptions): Aggregate;
export declare function Min(options: AggregateOptions): Aggregate;
export declare function Max(options: AggregateOptions): Aggregate;
export declare function Stddev(options: AggregateOptions): Aggregate;
export declare function Distinct(options: AggregateOptions): Aggregate;
export declare function Quantile(options: AggregateOptions & { p: number }): Aggregate;
export declare function LastK(options: AggregateOptions & { k: number }): Aggregate;
export declare function FirstK(options: AggregateOptions & { k: number }): Aggregate;
export declare function ExpDecaySum(options: AggregateOptions & { half_life: string }): Aggregate;

export type Value = number | bigint | string | boolean | null | Value[];

/** The values of one field over a batch's rows. Comparisons give masks. */
export declare class Column {
  constructor(values: Value[]);
  readonly values: Value[];
  readonly length: number;
  eq(other: Value | Column): Column;
  ne(other: Value | Column): Column;
  lt(other: Value | Column): Column;
  le(other: Value | Column): Column;
  gt(other: Value | Column): Column;
  ge(other: Value | Column): Column;
  add(other: Value | Column): Column;
  sub(other: Value | Column): Column;
  mul(other: Value | Column): Column;
  div(other: Value | Column): Column;
  and(other: Value | Column): Column;
  or(other: Value | Column): Column;
  not(): Column;
  isNull(): Column;
  notNull(): Column;
  isIn(values: Value[]): Column;
  fillNull(value: Value): Column;
  map(fn: (value: Value) => Value): Column;
  toArray(): Value[];
}

/** A batch: columns by name (`df.price`, `df["price"]`, `df.col("price")`). */
export declare class Frame {
  constructor(columns: Record<string, Column | Value[]>, index?: number[]);
  readonly length: number;
  readonly index: number[];
  col(name: string): Column;
  where(mask: Column | boolean[]): Frame;
  with(name: string, values: Column | Value[] | Value): Frame;
  readonly [column: string]: any;
}

export interface JoinOptions {
  on?: string | string[];
  leftOn?: string | string[];
  rightOn?: string | string[];
  how?: "inner" | "left";
  within?: [string, string];
}

export interface GroupBy {
  aggregate(aggregates: Aggregate[]): Stream;
  first(): Stream;
  latest(): Stream;
}

/** Rows inside a pipeline. */
export declare class Stream {
  filter(fn: (df: Frame) => Column | boolean[]): Stream;
  transform(fn: (df: Frame) => Frame, into: DatasetDecl): Stream;
  assign(name: string, type: FieldSpec, fn: (df: Frame) => Column | Value[]): Stream;
  join(other: Stream, options: JoinOptions): Stream;
  select(...fields: (string | string[])[]): Stream;
  drop(...fields: (string | string[])[]): Stream;
  rename(columns: Record<string, string>): Stream;
  dropnull(...fields: (string | string[])[]): Stream;
  explode(field: string): Stream;
  union(...others: Stream[]): Stream;
  dedup(by: string | string[], window?: Window): Stream;
  changelog(deleted: string): Stream;
  groupBy(keys: string | string[]): GroupBy;
}

/** Names the component (`volga build` does this from package.json). */
export declare function setName(name: string): void;
