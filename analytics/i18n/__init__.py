"""English and Chinese: the translation table, column labels, import problems."""
