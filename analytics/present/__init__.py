"""Results as files a director reads: the quarterly review (HTML, Excel) and safe CSV exports."""
