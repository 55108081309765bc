"""Declarative field mappings: register fields to HubSpot properties.

A mapping is a TOML file (``default.toml`` ships with hubsync) naming, for
each register field, its HubSpot property, its data category and which
system is its authority. ``load_mapping`` validates a file and names the
file and key of every problem.
"""

from mappings.loader import FieldMap, FieldMapping, MappingFileError, load_mapping
from sync.model import Authority

__all__ = ["Authority", "FieldMap", "FieldMapping", "MappingFileError", "load_mapping"]
