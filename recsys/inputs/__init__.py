"""Input parsing: raw Taste Profile / MSD / musiXmatch lines -> clean tables and quarantine.

Every raw line ends in exactly one place: a clean table, the quarantine (with file, line
number, raw text and reason), or a counted comment/header line. :mod:`~recsys.inputs.lines`
names the inputs and numbers lines, :mod:`~recsys.inputs.parsers` parses each format,
:mod:`~recsys.inputs.tables` assembles the tables and :mod:`~recsys.inputs.report` counts the
outcomes. Finding and reading the files is :mod:`recsys.storage.raw`; the ingest step checks,
after writing, that every line of every input is accounted for and fails loudly if not.
"""
