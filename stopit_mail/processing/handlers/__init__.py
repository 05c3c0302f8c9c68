"""The built-in handlers, one module per handler named after it (`open-case` is open_case.py).

The registry imports a handler's module when a pipeline names it.
"""
