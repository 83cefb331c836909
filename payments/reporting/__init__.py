"""Read models and exports: wallet and staff views, statements, reports, CSV, page cursors."""
