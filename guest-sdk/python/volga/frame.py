"""The batch a lambda sees: a light, pandas-like view of columns.

`df["product_type"] == "ON_SALE"` is a boolean `Column` (a mask); `df[mask]` keeps the rows where
it is true; arithmetic and comparisons work element-wise with scalars or other columns; `None`
is null and propagates (a comparison with null is false). No pandas inside the component.
"""

import operator


class Column:
    """The values of one field over the rows of a batch (`None` for null)."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = list(values)

    def __len__(self):
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def __getitem__(self, i):
        return self.values[i]

    def __repr__(self):
        return f"Column({self.values!r})"

    def tolist(self):
        """The values as a list."""
        return list(self.values)

    def _zip(self, other):
        if isinstance(other, Column):
            if len(other) != len(self):
                raise ValueError(f"columns of {len(self)} and {len(other)} values")
            return zip(self.values, other.values)
        return ((v, other) for v in self.values)

    def _binary(self, other, op, null_result=None):
        return Column(null_result if a is None or b is None else op(a, b) for a, b in self._zip(other))

    def _compare(self, other, op):
        return self._binary(other, op, null_result=False)

    def __eq__(self, other):
        return self._compare(other, operator.eq)

    def __ne__(self, other):
        return self._compare(other, operator.ne)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    def __add__(self, other):
        return self._binary(other, operator.add)

    def __radd__(self, other):
        return self._binary(other, lambda a, b: b + a)

    def __sub__(self, other):
        return self._binary(other, operator.sub)

    def __rsub__(self, other):
        return self._binary(other, lambda a, b: b - a)

    def __mul__(self, other):
        return self._binary(other, operator.mul)

    def __rmul__(self, other):
        return self._binary(other, lambda a, b: b * a)

    def __truediv__(self, other):
        return self._binary(other, operator.truediv)

    def __floordiv__(self, other):
        return self._binary(other, operator.floordiv)

    def __mod__(self, other):
        return self._binary(other, operator.mod)

    def __neg__(self):
        return Column(None if v is None else -v for v in self.values)

    def __and__(self, other):
        return self._binary(other, lambda a, b: bool(a) and bool(b), null_result=False)

    def __or__(self, other):
        return self._binary(other, lambda a, b: bool(a) or bool(b), null_result=False)

    def __invert__(self):
        return Column(not v for v in self.values)

    __hash__ = None

    def isnull(self):
        """True where the value is null."""
        return Column(v is None for v in self.values)

    def notnull(self):
        """True where the value is not null."""
        return Column(v is not None for v in self.values)

    def isin(self, values):
        """True where the value is one of `values`."""
        values = set(values)
        return Column(v in values for v in self.values)

    def fillna(self, value):
        """Nulls replaced by `value`."""
        return Column(value if v is None else v for v in self.values)

    def apply(self, fn):
        """`fn` of each non-null value (null stays null)."""
        return Column(None if v is None else fn(v) for v in self.values)

    def round(self, digits=0):
        """Each value rounded half to even, like Python's `round`."""
        return Column(None if v is None else round(v, digits) for v in self.values)

    def astype(self, ty):
        """Each non-null value converted with `ty` (`int`, `float`, `str`)."""
        return self.apply(ty)


class DataFrame:
    """Named columns of equal length, and for each row the index of the input row it came from
    (what a transform's output rows map back to). A column may be given as a function that
    makes it: it is then made on first use only (a lambda pays for the columns it reads)."""

    def __init__(self, columns, index=None):
        self._columns = {
            name: v if isinstance(v, Column) or callable(v) else Column(v) for name, v in columns.items()
        }
        lengths = {len(c) for c in self._columns.values() if isinstance(c, Column)}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        if index is None:
            if not lengths:
                raise ValueError("a DataFrame of lazy columns needs its index")
            index = range(lengths.pop())
        self.index = list(index)
        if lengths and lengths.pop() != len(self.index):
            raise ValueError(f"an index of {len(self.index)} rows for columns of another length")

    def _column(self, name):
        column = self._columns[name]
        if not isinstance(column, Column):
            column = self._columns[name] = column()
        return column

    def __len__(self):
        return len(self.index)

    @property
    def columns(self):
        """The column names."""
        return list(self._columns)

    def __contains__(self, name):
        return name in self._columns

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._columns:
                raise KeyError(f"no column {key!r}; the batch has {self.columns}")
            return self._column(key)
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            return DataFrame({k: self[k] for k in key}, self.index)
        mask = key.values if isinstance(key, Column) else list(key)
        if len(mask) != len(self):
            raise ValueError(f"a mask of {len(mask)} values for {len(self)} rows")
        keep = [i for i, m in enumerate(mask) if m]

        def kept(name):
            return lambda: Column([self._column(name).values[i] for i in keep])

        return DataFrame({name: kept(name) for name in self._columns}, [self.index[i] for i in keep])

    def __setitem__(self, name, value):
        column = value if isinstance(value, Column) else Column([value] * len(self))
        if len(column) != len(self):
            raise ValueError(f"column {name!r} has {len(column)} values for {len(self)} rows")
        self._columns[name] = column

    def rows(self):
        """The rows as dicts."""
        names = self.columns
        return [dict(zip(names, values)) for values in zip(*(self._column(n).values for n in names))]

    def __repr__(self):
        return f"DataFrame({len(self)} rows, columns={self.columns})"
