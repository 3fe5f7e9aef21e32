"""The report packs that ship with the library (see :mod:`flask_pdfqueue.reports.pack`)."""
