"""How results read: the one set of number formatters (formatting) that pages, CLI text, HTML and Excel share."""
