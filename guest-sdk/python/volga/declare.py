"""Datasets, their fields and sources, and the pipelines that compute them."""

import inspect
import sys
import typing

from .types import field_type


class Field:
    """A field's role: `field(key=True)`, `field(timestamp=True)`."""

    def __init__(self, key=False, timestamp=False):
        self.key = key
        self.timestamp = timestamp


def field(key=False, timestamp=False):
    """Marks a dataset field as part of the key, or as the event-time field."""
    return Field(key=key, timestamp=timestamp)


class SourceRef:
    """A table or topic of a connector named in the host's config."""

    def __init__(self, connector, name):
        self.connector = connector
        self.name = name


class Connector:
    """A connector by the name the host's config gives it: `mysql = Connector("mysql")`."""

    def __init__(self, name):
        self.name = name

    def table(self, name):
        """A table of a database or file connector."""
        return SourceRef(self.name, name)

    def topic(self, name):
        """A topic of a streaming connector."""
        return SourceRef(self.name, name)


class DatasetInfo:
    """What `@dataset` learned about a class."""

    def __init__(self, cls, fields, pipeline):
        self.cls = cls
        self.name = cls.__name__
        self.fields = fields  # [(name, (kind, scalar), key, timestamp)]
        self.sources = []  # [(SourceRef, tag)]
        self.pipeline = pipeline  # PipelineMethod or None


#: Every dataset, in declaration order (a pipeline's inputs come first).
DATASETS = []


class PipelineMethod:
    """A `@pipeline(inputs=[...])` method, called when the component describes itself."""

    def __init__(self, fn, inputs):
        self.fn = fn
        self.inputs = inputs


def pipeline(inputs):
    """Declares the method that computes a dataset from `inputs` (dataset classes)."""

    def wrap(fn):
        return PipelineMethod(fn, list(inputs))

    return wrap


def dataset(cls):
    """Declares a dataset: annotated fields, one of them `field(timestamp=True)`."""
    hints = typing.get_type_hints(cls)
    fields = []
    # The class's own annotations, in order (Python 3.14 evaluates them lazily: not in __dict__).
    for name in inspect.get_annotations(cls):
        role = cls.__dict__.get(name)
        role = role if isinstance(role, Field) else Field()
        fields.append((name, field_type(hints[name]), role.key, role.timestamp))
    methods = [v for v in cls.__dict__.values() if isinstance(v, PipelineMethod)]
    if len(methods) > 1:
        raise TypeError(f"dataset {cls.__name__} has {len(methods)} @pipeline methods; one is allowed")
    info = DatasetInfo(cls, fields, methods[0] if methods else None)
    cls._volga = info
    DATASETS.append(info)
    return cls


def source(ref, tag=None):
    """Binds a dataset to a table or topic (`Connector("mysql").table("users")`), optionally
    under a tag that selects it (`"online"`, `"offline"`). Put it above `@dataset`."""

    def wrap(cls):
        info = getattr(cls, "_volga", None)
        if info is None:
            raise TypeError(f"@source must be above @dataset on {cls.__name__}")
        # Decorators apply bottom-up: prepend, so the sources read top to bottom.
        info.sources.insert(0, (ref, tag))
        return cls

    return wrap


def info_of(cls):
    """The dataset info of a `@dataset` class."""
    info = getattr(cls, "_volga", None)
    if info is None:
        raise TypeError(f"{cls!r} is not a @dataset class")
    return info


def caller_location(depth=2):
    """`file:line` of the user code that called an operator, for lambda names."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
