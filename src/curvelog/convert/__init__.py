"""Curves recorded elsewhere into curvelog logs, and back.

`csv_to_log` (``curvelog import csv``) replays a long ``step,metric,value``
CSV through `EventLog`; `convert.tensorboard` reads TensorBoard event files
(its own small reader of the TFRecord framing and the Event protobuf:
`_tfrecord`, `_tb_proto`, `_tb_scan`, with CRC-32C in `_crc32c`) into logs
and writes logs back as event files TensorBoard reads identically.
"""

from __future__ import annotations

from ._csv import ImportReport, csv_to_log, default_log_path

__all__ = ["ImportReport", "csv_to_log", "default_log_path"]
