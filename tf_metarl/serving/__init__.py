"""Serving exported policies over TensorFlow Serving's REST API, with Ray Serve.

* ``rest``: the API as pure functions (paths, request parsing and checks, responses).
* ``models``: which folders to serve (TF Serving's version layout too) and calling them.
* ``server``: the Ray Serve application (``launch/serve.py`` starts it).
* ``client``: ``PolicyClient(url, model)``, a served policy that plays trials.

Importing this package pulls in neither Ray nor TensorFlow.
"""


def __getattr__(name):
    if name in ("PolicyClient", "ServingError"):
        from tf_metarl.serving import client
        return getattr(client, name)
    raise AttributeError(name)
