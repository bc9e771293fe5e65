"""Field types: Python annotations to Volga's field types."""

import datetime
import typing


class Timestamp(int):
    """Milliseconds since the Unix epoch, UTC. `datetime.datetime` annotations mean the same."""


_SCALARS = {
    int: "int",
    float: "float",
    str: "str",
    bool: "boolean",
    Timestamp: "timestamp",
    datetime.datetime: "timestamp",
}


def field_type(annotation):
    """`(kind, scalar)` for an annotation: kind is "scalar", "optional" or "list"."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union and len(args) == 2 and type(None) in args:
        inner = args[0] if args[1] is type(None) else args[1]
        return "optional", _scalar(inner, annotation)
    if origin in (list, typing.List):
        if len(args) != 1:
            raise TypeError(f"a list field needs an item type, e.g. list[str], not {annotation!r}")
        return "list", _scalar(args[0], annotation)
    return "scalar", _scalar(annotation, annotation)


def _scalar(annotation, whole):
    try:
        return _SCALARS[annotation]
    except (KeyError, TypeError):
        raise TypeError(
            f"unsupported field type {whole!r}: use int, float, str, bool, Timestamp or datetime, "
            "Optional[...] of one, or list[...] of one"
        ) from None
