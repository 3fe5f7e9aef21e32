"""Reports: the packs that say what a report looks like, and the renderer that turns a
report document into a PDF with one of them."""
