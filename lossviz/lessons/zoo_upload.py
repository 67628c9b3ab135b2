"""A visitor's own 2-D points for the "Loss zoo" page: a CSV checked before anything is trained.

The file needs a header naming the columns ``x1``, ``x2`` and ``label`` (any
order, any case), then one point per line.  Labels may be numbers or names.
Every problem raises :class:`UploadError` with one message that names the line
or the column, so the page can show it and keep the built-in data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math

import numpy as np

from lossviz.lessons.zoo_fit import Points

COLUMNS = ("x1", "x2", "label")
BYTES_PER_ROW = 200  # generous: "-123.456789,-123.456789,some class name" is about 40


class UploadError(ValueError):
    """A CSV the zoo cannot use; ``str(err)`` is the message for the visitor."""


def read_points(raw: bytes, max_rows: int, max_classes: int) -> tuple[Points, list[str]]:
    """The points of a CSV file and the class names (label ``k`` of a point is ``names[k]``).

    Args:
      raw: the file's bytes.
      max_rows: most data rows accepted (``LOSSVIZ_MAX_UPLOAD_ROWS``).
      max_classes: most distinct labels accepted (``LOSSVIZ_MAX_UPLOAD_CLASSES``).

    Returns:
      ``Points`` with ``x`` ``(n, 2)`` float32, ``y`` ``(n,)`` int32 class indices, and the names.

    Raises:
      UploadError: with one message naming the line or column at fault.
    """
    if len(raw) > max_rows * BYTES_PER_ROW:
        raise UploadError(f"The file is {len(raw):,} bytes: too large for {max_rows:,} rows "
                          f"(at most {max_rows * BYTES_PER_ROW:,} bytes).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UploadError(f"The file is not UTF-8 text: byte 0x{raw[err.start]:02x} on line {line} cannot be "
                          "read. Save it as \"CSV UTF-8\".") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(rows, None)
    if header is None:
        raise UploadError("The file is empty: it needs a header line x1,x2,label and one point per line.")
    position = _column_positions(header)
    points, labels = [], []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank lines are harmless
        line = rows.line_num
        if len(points) == max_rows:
            raise UploadError(f"More than {max_rows:,} data rows (line {line} is row {max_rows + 1:,}): "
                              f"at most {max_rows:,} points are accepted.")
        if len(row) != len(header):
            raise UploadError(f"Line {line} has {len(row)} fields, but the header has {len(header)}.")
        points.append([_number(row[position[c]], line, c) for c in ("x1", "x2")])
        labels.append(_label(row[position["label"]], line))
    if not points:
        raise UploadError("There are no data rows under the header.")
    names = _sorted_names(set(labels))
    if len(names) < 2:
        raise UploadError(f"Every point has the label {_show(names[0])}: a classifier needs at least two classes.")
    if len(names) > max_classes:
        raise UploadError(f"The column label has {len(names)} different values: at most {max_classes} classes "
                          "are accepted.")
    index = {name: k for k, name in enumerate(names)}
    y = np.array([index[label] for label in labels], np.int32)
    x = np.array(points, np.float32)
    return Points(x, y, y, np.zeros(len(y), bool), len(names)), names


def fingerprint(raw: bytes) -> str:
    """SHA-256 of a file's bytes: two visitors uploading the same file share its fits."""
    return hashlib.sha256(raw).hexdigest()


def _column_positions(header: list[str]) -> dict[str, int]:
    found = [cell.strip().lower() for cell in header]
    for k, name in enumerate(found):
        if name not in COLUMNS:
            raise UploadError(f"Column {k + 1} is named {_show(header[k])}; the header must be x1,x2,label "
                              f"(found: {','.join(map(_show, header))}).")
        if found.index(name) != k:
            raise UploadError(f"The column {name} appears twice in the header (columns {found.index(name) + 1} "
                              f"and {k + 1}).")
    missing = [c for c in COLUMNS if c not in found]
    if missing:
        raise UploadError(f"The header has no column {', '.join(missing)}; it must be x1,x2,label "
                          f"(found: {','.join(map(_show, header))}).")
    return {name: found.index(name) for name in COLUMNS}


def _number(cell: str, line: int, column: str) -> float:
    text = cell.strip()
    if not text:
        raise UploadError(f"Line {line}, column {column} is empty: every point needs two coordinates.")
    try:
        value = float(text)
    except ValueError:
        raise UploadError(f"Line {line}, column {column}: {_show(text)} is not a number.") from None
    if not math.isfinite(value):
        raise UploadError(f"Line {line}, column {column} is {_show(text)}: coordinates must be finite numbers.")
    return value


def _label(cell: str, line: int) -> str:
    text = cell.strip()
    if not text or text.lower() == "nan":
        raise UploadError(f"Line {line}, column label is {'empty' if not text else _show(text)}: "
                          "every point needs a class.")
    return text


def _sorted_names(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order (2 before 10), names alphabetically."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _show(text: str, limit: int = 30) -> str:
    """A visitor's text as a Markdown code span: shown as typed, never read as Markdown or LaTeX."""
    text = text.replace("`", "'")
    return f"`{text if len(text) <= limit else text[: limit - 1] + '…'}`"
