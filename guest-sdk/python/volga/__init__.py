"""Volga pipelines in Python: datasets, sources and operators, compiled to a WebAssembly
component by `volga build` (with componentize-py).

    from volga import *

    mysql = Connector("mysql")

    @source(mysql.table("users"))
    @dataset
    class User:
        user_id: str = field(key=True)
        registered_at: datetime.datetime = field(timestamp=True)
        name: str
"""

from .declare import Connector, dataset, field, pipeline, source
from .frame import Column, DataFrame
from .graph import (
    Avg,
    Count,
    Distinct,
    ExpDecaySum,
    FirstK,
    Hopping,
    LastK,
    Max,
    Min,
    Quantile,
    Session,
    Stddev,
    Stream,
    Sum,
    Tumbling,
)
from .types import Timestamp

#: The type of a pipeline method's inputs, as the seed's examples name it.
Dataset = Stream

__all__ = [
    "Avg", "Column", "Connector", "Count", "DataFrame", "Dataset", "Distinct", "ExpDecaySum",
    "FirstK", "Hopping", "LastK", "Max", "Min", "Quantile", "Session", "Stddev", "Stream", "Sum",
    "Timestamp", "Tumbling", "dataset", "field", "pipeline", "source",
]
