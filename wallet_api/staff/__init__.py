"""Staff reads: the client list and file, funding runs, open visits."""
