"""The operator graph: streams, their operators, aggregates and windows, and the lambdas."""

from .declare import caller_location, info_of


class Tumbling:
    """The last closed bucket of this width: `Tumbling("1h")`."""

    def __init__(self, width):
        self.width = width


class Hopping:
    """The last closed hop: `Hopping("2h", "30m")` (width, stride)."""

    def __init__(self, width, stride):
        self.width = width
        self.stride = stride


class Session:
    """The key's last closed session: `Session("30m")` (the gap)."""

    def __init__(self, gap):
        self.gap = gap


def window_spec(window):
    """`("sliding", "7d")`, `("forever",)`, `("tumbling", d)`, `("hopping", (w, s))`,
    `("session", gap)`."""
    if window is None or window == "forever":
        return ("forever",)
    if isinstance(window, str):
        return ("sliding", window)
    if isinstance(window, Tumbling):
        return ("tumbling", window.width)
    if isinstance(window, Hopping):
        return ("hopping", (window.width, window.stride))
    if isinstance(window, Session):
        return ("session", window.gap)
    raise TypeError(f"unknown window {window!r}: use '7d', 'forever', Tumbling, Hopping or Session")


class Aggregate:
    """One aggregate of `group_by(...).aggregate([...])`."""

    kind = None

    def __init__(self, on=None, window="forever", into=None, **params):
        if into is None:
            raise TypeError(f"{type(self).__name__}: name the output field with into='...'")
        self.on = on
        self.window = window_spec(window)
        self.into = into
        self.params = params

    def spec(self):
        """`(kind, parameter)`: the WIT aggregate kind."""
        return (self.kind, None)


class Count(Aggregate):
    """Number of rows (no `on`), or of non-null values of `on`; 0 when empty."""

    kind = "count"


class Sum(Aggregate):
    """Exact sum; 0 when empty."""

    kind = "sum"


class Avg(Aggregate):
    """Exact sum rounded once, divided by the count; null when empty."""

    kind = "avg"


class Min(Aggregate):
    """Least value; null when empty."""

    kind = "min"


class Max(Aggregate):
    """Greatest value; null when empty."""

    kind = "max"


class Stddev(Aggregate):
    """Population standard deviation; null when empty."""

    kind = "stddev"


class Distinct(Aggregate):
    """Number of distinct non-null values; 0 when empty."""

    kind = "distinct"


class Quantile(Aggregate):
    """Nearest-rank quantile `p`: `Quantile(on="price", p=0.9, ...)`; null when empty."""

    kind = "quantile"

    def spec(self):
        return (self.kind, float(self.params["p"]))


class LastK(Aggregate):
    """The `k` most recent values, newest first: `LastK(on="item", k=5, ...)`."""

    kind = "last-k"

    def spec(self):
        return (self.kind, int(self.params["k"]))


class FirstK(Aggregate):
    """The `k` earliest values, oldest first: `FirstK(on="item", k=3, ...)`."""

    kind = "first-k"

    def spec(self):
        return (self.kind, int(self.params["k"]))


class ExpDecaySum(Aggregate):
    """Decayed sum: `ExpDecaySum(on="price", half_life="1h", ...)`."""

    kind = "exp-decay-sum"

    def spec(self):
        return (self.kind, str(self.params["half_life"]))


class Lambda:
    """A lambda registered by an operator: called by the host one batch at a time."""

    def __init__(self, id, kind, name, fn, output):
        self.id = id
        self.kind = kind  # "filter", "transform" or "assign"
        self.name = name
        self.fn = fn
        self.output = output  # transform: the output dataset class; assign: (name, annotation)


class Graph:
    """Every node and lambda of the component, shared by all streams."""

    def __init__(self):
        self.nodes = []  # (kind, inputs: [int], params: dict)
        self.lambdas = []

    def push(self, kind, inputs, **params):
        self.nodes.append((kind, list(inputs), params))
        return len(self.nodes) - 1

    def register(self, kind, fn, output, depth=3):
        name = f"{kind} at {caller_location(depth)}"
        self.lambdas.append(Lambda(len(self.lambdas), kind, name, fn, output))
        return len(self.lambdas) - 1


GRAPH = Graph()


def _names(fields):
    if fields is None:
        return []
    if isinstance(fields, str):
        return [fields]
    return list(fields)


class Stream:
    """Rows inside a pipeline: an input dataset, or the output of an operator."""

    def __init__(self, node):
        self.node = node

    def _then(self, kind, *others, **params):
        return Stream(GRAPH.push(kind, [self.node, *(o.node for o in others)], **params))

    def filter(self, fn):
        """Keeps the rows where `fn(df)` is true (a boolean Column or list)."""
        return self._then("filter", lambda_=GRAPH.register("filter", fn, None))

    def transform(self, fn, into):
        """Maps the batch to rows of dataset class `into`: `fn(df)` returns a DataFrame with
        `into`'s columns, built from `df` (masks keep track of the input row of each row)."""
        info_of(into)
        return self._then("transform", lambda_=GRAPH.register("transform", fn, into))

    def assign(self, name, dtype, fn):
        """Adds (or replaces) field `name` of type `dtype` with `fn(df)`: one value per row."""
        return self._then("assign", lambda_=GRAPH.register("assign", fn, (name, dtype)))

    def join(self, other, on=None, left_on=None, right_on=None, how="inner", within=None):
        """As-of join with the keyed dataset `other`; `how` is "inner" or "left"; `within` is
        `(back, forward)`, e.g. `("1h", "0s")`."""
        left = _names(left_on if left_on is not None else on)
        right = _names(right_on if right_on is not None else on)
        if how not in ("inner", "left"):
            raise ValueError(f"how={how!r}: use 'inner' or 'left'")
        within = None if within is None else (str(within[0]), str(within[1]))
        return self._then("join", other, left_on=left, right_on=right, how=how, within=within)

    def select(self, *fields):
        """Keeps only these fields, in this order (the timestamp must be among them)."""
        names = list(fields[0]) if len(fields) == 1 and not isinstance(fields[0], str) else list(fields)
        return self._then("project", select=names, drop=[], rename=[])

    def drop(self, *fields, columns=None):
        """Removes these fields."""
        names = _names(columns) if columns is not None else (
            list(fields[0]) if len(fields) == 1 and not isinstance(fields[0], str) else list(fields)
        )
        return self._then("project", select=None, drop=names, rename=[])

    def rename(self, columns):
        """Renames fields: `{"from": "to"}`."""
        return self._then("project", select=None, drop=[], rename=list(columns.items()))

    def dropnull(self, *fields):
        """Drops rows with a null in these fields (every optional field when none)."""
        names = list(fields[0]) if len(fields) == 1 and not isinstance(fields[0], str) else list(fields)
        return self._then("dropnull", fields=names)

    def explode(self, field):
        """One row per item of list field `field`, which becomes optional."""
        return self._then("explode", field=field)

    def union(self, *others):
        """The rows of this stream and of `others` (same fields)."""
        return self._then("union", *others)

    def dedup(self, by, window="forever"):
        """The first row of each combination of `by` values: ever, per `Tumbling` bucket or per
        `Session`."""
        return self._then("dedup", by=_names(by), window=window_spec(window))

    def changelog(self, deleted):
        """The changes of a keyed dataset as events, with boolean field `deleted`."""
        return self._then("changelog", deleted=deleted)

    def group_by(self, keys):
        """Groups by key fields, for `aggregate`, `first` and `latest`."""
        return GroupBy(self, _names(keys))

    groupby = group_by


class GroupBy:
    """A stream grouped by key fields."""

    def __init__(self, stream, keys):
        self.stream = stream
        self.keys = keys

    def aggregate(self, aggregates):
        """A keyed dataset of each aggregate over its window."""
        return self.stream._then("aggregate", keys=self.keys, aggregates=list(aggregates))

    def first(self):
        """Each key's first row."""
        return self.stream._then("first", keys=self.keys)

    def latest(self):
        """Each key's latest row."""
        return self.stream._then("latest", keys=self.keys)


def input_stream(cls):
    """The stream of dataset class `cls` inside a pipeline."""
    return Stream(GRAPH.push("input", [], dataset=info_of(cls).name))
