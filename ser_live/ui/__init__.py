"""Desktop views of the live engine: the dashboard window and the agent overlay.

- `model.py`: a Qt-free view model. It consumes plain message dicts (the JSON form of
  `event` / `status` / `summary`, exactly what `EmotionEvent.to_dict()` and friends give, or
  what a websocket feed would carry) and keeps the trace arrays and the current state.
- `widgets.py`, `dashboard.py`, `overlay.py`: PyQt6 + pyqtgraph views of that model.
- `app.py`: the bridge to the engine (a bounded bus subscription drained by a QTimer on the UI
  thread, never blocking it) and the command-line entry points.
- `gui_gc.py`: keeps Python's cycle collector on the GUI thread while windows are about.

PyQt6 and pyqtgraph are imported only inside this package, and only by the Qt modules, so
the rest of the product (and `model.py`) loads without them.
"""
