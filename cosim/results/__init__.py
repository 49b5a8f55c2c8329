"""Result files: the writer, the table formats and the reader of run folders."""
