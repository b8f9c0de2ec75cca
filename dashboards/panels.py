"""Panel shapes the dashboards share, and a board that numbers and places them.

Each helper fixes the choices operators should find the same on every dashboard (legend as a
table with last and max, bands drawn behind lines, stat colours from thresholds), so a board
module reads as a list of questions and queries.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    TableSortByFieldState,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, Dashboard, QueryVariable, Row, TextBoxVariable
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    GraphDrawStyle,
    GraphTresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    ValueMapping,
)

from dashboards.scales import Band, thresholds

__all__ = ["Board", "bar_gauge", "stat_panel", "state_timeline", "table_panel", "time_series"]

Target = cogbuilder.Builder[cogvariants.Dataquery]
PanelBuilder = timeseries.Panel | stat.Panel | table.Panel | statetimeline.Panel | bargauge.Panel


def time_series(
    title: str,
    description: str,
    datasource: DataSourceRef,
    targets: Sequence[Target],
    *,
    unit: str,
    bands: tuple[Band, ...] | None = None,
    bars: bool = False,
) -> timeseries.Panel:
    """A time series with a table legend; `bands` are drawn as coloured areas behind the lines."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .targets(list(targets))
        .unit(unit)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS).fill_opacity(60)
    if bands is not None:
        panel = panel.thresholds(thresholds(bands)).thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE_AND_AREA)
        )
    return panel


def stat_panel(
    title: str,
    description: str,
    datasource: DataSourceRef,
    targets: Sequence[Target],
    *,
    unit: str = "none",
    bands: tuple[Band, ...] = ((None, "blue"),),
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .targets(list(targets))
        .unit(unit)
        .thresholds(thresholds(bands))
        .color_mode(BigValueColorMode.BACKGROUND)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def table_panel(
    title: str,
    description: str,
    datasource: DataSourceRef,
    targets: Sequence[Target],
    *,
    unit: str = "none",
    bands: tuple[Band, ...] | None = None,
    sort_by: str | None = None,
    descending: bool = False,
    transformations: Sequence[DataTransformerConfig] = (),
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .targets(list(targets))
        .unit(unit)
        .transformations(list(transformations))
    )
    if bands is not None:
        panel = panel.thresholds(thresholds(bands))
    if sort_by is not None:
        panel = panel.sort_by([TableSortByFieldState().display_name(sort_by).desc(descending)])
    return panel


def state_timeline(
    title: str,
    description: str,
    datasource: DataSourceRef,
    targets: Sequence[Target],
    *,
    mappings: Sequence[ValueMapping],
    bands: tuple[Band, ...],
) -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .targets(list(targets))
        .mappings(list(mappings))
        .thresholds(thresholds(bands))
        .show_value(VisibilityMode.NEVER)
        .merge_values(True)
    )


def bar_gauge(
    title: str,
    description: str,
    datasource: DataSourceRef,
    targets: Sequence[Target],
    *,
    unit: str = "none",
    bands: tuple[Band, ...] = ((None, "blue"),),
) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(datasource)
        .targets(list(targets))
        .unit(unit)
        .thresholds(thresholds(bands))
        .display_mode(BarGaugeDisplayMode.BASIC)
        .orientation(VizOrientation.HORIZONTAL)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(True))
    )


class Board:
    """A dashboard under construction: panels get stable ids in the order they are added."""

    def __init__(self, uid: str, title: str, description: str, *, tags: Sequence[str] = ()) -> None:
        self.uid = uid
        self._next_id = 1
        self.dashboard = (
            Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["citysense", *tags])
            .timezone("browser")
            .time("now-6h", "now")
            .refresh("1m")
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .editable()
        )

    def variables(self, *variables: QueryVariable | TextBoxVariable) -> Board:
        self.dashboard = self.dashboard.variables(list(variables))
        return self

    def annotate(self, annotation: AnnotationQuery) -> Board:
        self.dashboard = self.dashboard.annotation(annotation)
        return self

    def row(self, title: str) -> Board:
        self.dashboard = self.dashboard.with_row(Row(title).id(self._take_id()))
        return self

    def add(self, panel: PanelBuilder, *, width: int = 12, height: int = 8) -> Board:
        self.dashboard = self.dashboard.with_panel(panel.id(self._take_id()).span(width).height(height))
        return self

    def _take_id(self) -> int:
        taken, self._next_id = self._next_id, self._next_id + 1
        return taken
