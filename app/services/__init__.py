"""Use cases. Each takes a :class:`app.runtime.Runtime`, owns its transaction, and raises
:class:`app.errors.AppError` for failures a client may see. No request objects inside."""
