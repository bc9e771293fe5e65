"""The component's exports: the description of every dataset, and the lambda calls.

`volga build` generates the component's entry module, which imports the user's app (so its
`@dataset` classes register) and exposes `Guest` from here.
"""

import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import description as d
from wit_world.imports import types as t

from . import declare as ds
from . import graph as pl
from .frame import Column, DataFrame
from .types import field_type

#: The component's name; the generated entry module sets it.
NAME = "pipeline"
SDK = "volga-guest-python 0.1.0"

_SCALARS = {
    "int": t.ScalarType.INT,
    "float": t.ScalarType.FLOAT,
    "str": t.ScalarType.STR,
    "boolean": t.ScalarType.BOOLEAN,
    "timestamp": t.ScalarType.TIMESTAMP,
}


def _wit_type(kind, scalar):
    s = _SCALARS[scalar]
    return {"scalar": t.FieldType_Scalar, "optional": t.FieldType_Optional, "list": t.FieldType_List}[kind](s)


def _field_defs(info):
    return [t.FieldDef(name, _wit_type(*ty), key, ts) for name, ty, key, ts in info.fields]


def _window(spec):
    kind = spec[0]
    if kind == "forever":
        return d.Window_Forever()
    return {
        "sliding": d.Window_Sliding,
        "tumbling": d.Window_Tumbling,
        "hopping": d.Window_Hopping,
        "session": d.Window_Session,
    }[kind](spec[1])


_KINDS = {
    "count": d.AggregateKind_Count,
    "sum": d.AggregateKind_Sum,
    "avg": d.AggregateKind_Avg,
    "min": d.AggregateKind_Min,
    "max": d.AggregateKind_Max,
    "stddev": d.AggregateKind_Stddev,
    "distinct": d.AggregateKind_Distinct,
    "quantile": d.AggregateKind_Quantile,
    "last-k": d.AggregateKind_LastK,
    "first-k": d.AggregateKind_FirstK,
    "exp-decay-sum": d.AggregateKind_ExpDecaySum,
}


def _aggregate(a):
    kind, param = a.spec()
    kind = _KINDS[kind]() if param is None else _KINDS[kind](param)
    return d.AggregateDef(kind, a.on, _window(a.window), a.into)


def _node(kind, at, inputs, p):
    """The WIT node of a graph node; `at` renumbers inputs."""
    one = at(inputs[0]) if inputs else None
    if kind == "input":
        return d.Node_Input(p["dataset"])
    if kind in ("filter", "transform", "assign"):
        node = d.LambdaNode(one, p["lambda_"])
        return {"filter": d.Node_Filter, "transform": d.Node_Transform, "assign": d.Node_Assign}[kind](node)
    if kind == "join":
        how = d.JoinHow.INNER if p["how"] == "inner" else d.JoinHow.LEFT
        return d.Node_Join(d.JoinNode(one, at(inputs[1]), p["left_on"], p["right_on"], how, p["within"]))
    if kind == "aggregate":
        return d.Node_Aggregate(d.AggregateNode(one, p["keys"], [_aggregate(a) for a in p["aggregates"]]))
    if kind == "project":
        return d.Node_Project(d.ProjectNode(one, p["select"], p["drop"], p["rename"]))
    if kind == "dropnull":
        return d.Node_Dropnull(d.DropnullNode(one, p["fields"]))
    if kind == "union":
        return d.Node_Union([at(i) for i in inputs])
    if kind == "first":
        return d.Node_First(d.GroupNode(one, p["keys"]))
    if kind == "latest":
        return d.Node_Latest(d.GroupNode(one, p["keys"]))
    if kind == "dedup":
        return d.Node_Dedup(d.DedupNode(one, p["by"], _window(p["window"])))
    if kind == "changelog":
        return d.Node_Changelog(d.ChangelogNode(one, p["deleted"]))
    if kind == "explode":
        return d.Node_Explode(d.ExplodeNode(one, p["field"]))
    raise ValueError(f"unknown node kind {kind}")


def _pipeline_def(output):
    """The sub-graph computing node `output`, renumbered densely in topological order."""
    nodes = pl.GRAPH.nodes
    used = set()
    stack = [output]
    while stack:
        n = stack.pop()
        if n not in used:
            used.add(n)
            stack.extend(nodes[n][1])
    renumber = {}
    out = []
    inputs = []
    for index, (kind, node_inputs, params) in enumerate(nodes):
        if index not in used:
            continue
        renumber[index] = len(out)
        if kind == "input" and params["dataset"] not in inputs:
            inputs.append(params["dataset"])
        out.append(_node(kind, renumber.__getitem__, node_inputs, params))
    return d.PipelineDef(inputs, out, renumber[output])


_SPEC = None


def spec():
    """The description: built once (calling every `@pipeline` method), then reused."""
    global _SPEC
    if _SPEC is None:
        datasets = []
        for info in ds.DATASETS:
            pipeline = None
            if info.pipeline is not None:
                streams = [pl.input_stream(cls) for cls in info.pipeline.inputs]
                result = info.pipeline.fn(info.cls, *streams)
                if not isinstance(result, pl.Stream):
                    raise TypeError(f"the @pipeline of {info.name} must return a stream, not {result!r}")
                pipeline = _pipeline_def(result.node)
            sources = [d.SourceDef(ref.connector, ref.name, tag) for ref, tag in info.sources]
            datasets.append(d.DatasetDef(info.name, _field_defs(info), sources, pipeline))
        lambdas = [_lambda_def(l) for l in pl.GRAPH.lambdas]
        _SPEC = d.PipelineSpec(NAME, SDK, datasets, lambdas)
    return _SPEC


def _lambda_def(l):
    kind = {"filter": d.LambdaKind.FILTER, "transform": d.LambdaKind.TRANSFORM, "assign": d.LambdaKind.ASSIGN}
    output = None
    if l.kind == "transform":
        output = _field_defs(ds.info_of(l.output))
    elif l.kind == "assign":
        name, dtype = l.output
        output = [t.FieldDef(name, _wit_type(*field_type(dtype)), False, False)]
    return d.LambdaDef(l.id, l.name, kind[l.kind], None, output)


# ---- batches <-> columns ---------------------------------------------------------------------


def _split(column):
    text = column.bytes
    offsets = column.offsets
    if len(offsets) > 1 and offsets[-1] == len(text):
        # ASCII (byte offsets are character offsets): slice the string itself.
        return [text[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    data = text.encode("utf-8")
    return [data[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]


def _values(data):
    if isinstance(data, t.ColumnData_Str):
        return _split(data.value)
    if isinstance(data, t.ColumnData_List):
        items = _values(data.value.items)
        offsets = data.value.offsets
        return [items[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    if isinstance(data, t.ListItems_Str):
        return _split(data.value)
    return list(data.value)


def _decoder(column):
    def decode():
        values = _values(column.data)
        if column.nulls is not None:
            values = [None if null else v for v, null in zip(values, column.nulls)]
        return Column(values)

    return decode


def frame_of(batch):
    """A DataFrame of a batch, each column decoded when first read; nulls as None."""
    columns = {name: _decoder(column) for name, column in zip(batch.names, batch.columns)}
    return DataFrame(columns, range(batch.len))


_PLACEHOLDER = {"int": 0, "float": 0.0, "str": "", "boolean": False, "timestamp": 0}


def _scalar_data(scalar, values, list_items=False):
    if scalar == "str":
        encoded = [v.encode("utf-8") for v in values]
        offsets = [0]
        for e in encoded:
            offsets.append(offsets[-1] + len(e))
        value = t.StrColumn(b"".join(encoded).decode("utf-8"), offsets)
    elif scalar == "float":
        value = [float(v) for v in values]
    elif scalar == "boolean":
        value = [bool(v) for v in values]
    else:
        value = [int(v) for v in values]
    variants = (
        {"int": t.ListItems_Int, "float": t.ListItems_Float, "str": t.ListItems_Str,
         "boolean": t.ListItems_Boolean, "timestamp": t.ListItems_Timestamp}
        if list_items
        else {"int": t.ColumnData_Int, "float": t.ColumnData_Float, "str": t.ColumnData_Str,
              "boolean": t.ColumnData_Boolean, "timestamp": t.ColumnData_Timestamp}
    )
    return variants[scalar](value)


def column_of(name, kind, scalar, values):
    """The WIT column of `values` for a field of type `(kind, scalar)`."""
    values = list(values)
    if kind == "list":
        offsets = [0]
        items = []
        for v in values:
            if v is None:
                raise ValueError(f"field {name!r}: a list field cannot be null (use an empty list)")
            items.extend(v)
            offsets.append(len(items))
        return t.Column(t.ColumnData_List(t.ListColumn(offsets, _scalar_data(scalar, items, True))), None)
    nulls = [v is None for v in values]
    if any(nulls) and kind != "optional":
        raise ValueError(f"field {name!r} is not optional but has a null")
    filled = [_PLACEHOLDER[scalar] if v is None else v for v in values]
    return t.Column(_scalar_data(scalar, filled), nulls if kind == "optional" else None)


def _mask(result, n):
    values = result.values if isinstance(result, Column) else list(result)
    if len(values) != n:
        raise ValueError(f"the filter returned {len(values)} values for {n} rows")
    return [bool(v) for v in values]


class Guest(exports.Guest):
    """The component's exports, over the registered datasets and lambdas."""

    def describe(self):
        return spec()

    def filter(self, lambda_, rows):
        return _call(lambda_, "filter", lambda l: _mask(l.fn(frame_of(rows)), rows.len))

    def transform(self, lambda_, rows):
        def run(l):
            out = l.fn(frame_of(rows))
            if not isinstance(out, DataFrame):
                raise TypeError(f"a transform must return a DataFrame, not {type(out).__name__}")
            info = ds.info_of(l.output)
            columns = [column_of(name, ty[0], ty[1], out[name].values) for name, ty, _, _ in info.fields]
            batch = t.Batch(len(out), [f[0] for f in info.fields], columns)
            return exports.guest.TransformOutput(batch, list(out.index))

        return _call(lambda_, "transform", run)

    def assign(self, lambda_, rows):
        def run(l):
            name, dtype = l.output
            out = l.fn(frame_of(rows))
            values = out.values if isinstance(out, Column) else list(out)
            if len(values) != rows.len:
                raise ValueError(f"the assign returned {len(values)} values for {rows.len} rows")
            kind, scalar = field_type(dtype)
            return column_of(name, kind, scalar, values)

        return _call(lambda_, "assign", run)


def _call(lambda_, kind, run):
    """Runs lambda `lambda_` of `kind`; an exception becomes the call's error, with its traceback."""
    spec()
    if lambda_ >= len(pl.GRAPH.lambdas) or pl.GRAPH.lambdas[lambda_].kind != kind:
        raise Err(f"lambda {lambda_} is not a {kind}")
    try:
        return run(pl.GRAPH.lambdas[lambda_])
    except Exception as error:  # the guest's own message and traceback go to the host
        raise Err("".join(traceback.format_exception(error)).strip()) from None
