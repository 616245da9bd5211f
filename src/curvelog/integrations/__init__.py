"""Framework hooks: one module per framework, each behind its own extra.

Importing this package imports no framework; ``curvelog.integrations.lightning``
imports Lightning, ``.huggingface`` transformers, ``.keras`` Keras and
``.accelerate`` Accelerate, so a user pays only for the framework they train with::

    pip install 'curvelog[lightning]'      # or [huggingface], [keras], [accelerate]

Every integration writes one `curvelog.EventLog` and can, when training ends,
compact it and file the bundle and its PNG into a registry version
(``registry=``, ``key=``) so the model folder holds its curves.
"""

from __future__ import annotations

__all__: list[str] = []
