"""The one theme policy for every figure: template, margins and colours live here."""

TEMPLATE = "plotly_white"
