"""The mapper page's targets: ``MapperLayout`` and ``MapperSource`` per target, and the row cells every mapper
prints (``seatsync.web.mappers.base``). ConnectWise registers itself here; other targets call ``register``."""

from seatsync.web.mappers.base import (
    PRODUCT_LABELS,
    Choice,
    ChoiceCell,
    CreateField,
    ExtraColumn,
    Level,
    MapperLayout,
    MapperSource,
    RowCells,
    StatusCell,
    mapper_source,
    mapper_sources,
    register,
)
from seatsync.web.mappers.cells import fmt_qty, psa_row_cells, result_status

__all__ = [
    "PRODUCT_LABELS",
    "Choice",
    "ChoiceCell",
    "CreateField",
    "ExtraColumn",
    "Level",
    "MapperLayout",
    "MapperSource",
    "RowCells",
    "StatusCell",
    "fmt_qty",
    "mapper_source",
    "mapper_sources",
    "psa_row_cells",
    "register",
    "result_status",
]


def _register_builtin() -> None:
    from seatsync.web.mappers import autotask, connectwise, halopsa

    register(connectwise.SOURCE)
    register(autotask.SOURCE)
    register(halopsa.SOURCE)


_register_builtin()
