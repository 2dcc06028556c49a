"""Vector arithmetic on array columns with Spark built-ins (no UDFs), shared by every package.

Higher-order functions are interpreted, not code-generated, so each helper computes what it
needs once per row (a norm in ``aggregate``'s finish function, not per element).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def dot(a: Column, b: Column) -> Column:
    """The dot product of two equal-length numeric arrays, summed in double precision."""
    products = F.zip_with(a, b, lambda x, y: x.cast("double") * y.cast("double"))
    return F.aggregate(products, F.lit(0.0).cast("double"), lambda acc, x: acc + x)


def unit_array(values: Column) -> Column:
    """``values`` scaled to unit length; null for a null, all-zero or NaN array.

    Spark orders NaN above every number (``NaN > 0`` is true), hence the explicit check: a
    vector without a direction must not pass as one.
    """

    def finish(sum_sq: Column) -> Column:
        ok = (sum_sq > 0) & ~F.isnan(sum_sq)
        return F.when(ok, F.transform(values, lambda x: x / F.sqrt(sum_sq)))

    return F.aggregate(values, F.lit(0.0).cast("double"), lambda acc, x: acc + x * x, finish)


def sum_arrays(arrays: Column) -> Column:
    """The element-wise sum of an array of equal-length arrays; null when it is empty."""
    return F.aggregate(
        F.slice(arrays, 2, F.greatest(F.size(arrays), F.lit(1))),
        F.try_element_at(arrays, F.lit(1)),  # null for an empty list, also under ANSI
        lambda acc, v: F.zip_with(acc, v, lambda x, y: x + y),
    )


def scaled(values: Column, factor: float) -> Column:
    """Every element of ``values`` times ``factor``."""
    return F.transform(values, lambda x: x * F.lit(float(factor)))
