"""The Ray Serve application: TensorFlow Serving's REST API over the exported policies.

Two deployments, thin around ``rest`` and ``models``:

* ``PolicyModel`` (one per model, ``replicas`` each): checks a request, then hands it to a
  ``serve.batch`` method that merges the concurrent requests for the same signature and
  input shapes into one signature call and splits the outputs back. It keeps no state
  between requests (the recurrent ``h``, ``c`` travel with the client), so any replica
  answers any request.
* ``Router`` (the HTTP ingress at ``/``): parses the path, answers ``/healthz``, forwards
  to the model's deployment and turns its answer into a JSON response.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Any, Sequence

from ray import serve

from tf_metarl.serving import rest
from tf_metarl.serving.models import ModelSpec

APP_NAME = "tf_metarl_serving"
HEALTH_PATH = "/healthz"


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """How the models are served."""
    # Replicas (Ray actors) of each model's deployment.
    replicas: int = 1
    # Most requests merged into one signature call; 1 turns dynamic batching off.
    max_batch_size: int = 32
    # Longest wait (seconds) for more requests before a partial batch is run.
    batch_wait_timeout_s: float = 0.002
    # Most rows N (trials) in one request; larger requests get a 400.
    max_request_rows: int = 1024
    # TensorFlow threads per replica (intra- and inter-op).
    tf_threads: int = 1

    def check(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas={self.replicas!r}, expected >= 1")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size={self.max_batch_size!r}, expected >= 1")
        if not 0.0 <= self.batch_wait_timeout_s <= 10.0:
            raise ValueError(f"batch_wait_timeout_s={self.batch_wait_timeout_s!r}, expected 0..10 s")
        if self.max_request_rows < 1:
            raise ValueError(f"max_request_rows={self.max_request_rows!r}, expected >= 1")
        if self.tf_threads < 1:
            raise ValueError(f"tf_threads={self.tf_threads!r}, expected >= 1")


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
class PolicyModel:
    """One model's replica: checks requests and runs them in merged batches."""

    def __init__(self, spec: ModelSpec, config: ServingConfig):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        try:
            tf.config.threading.set_intra_op_parallelism_threads(config.tf_threads)
            tf.config.threading.set_inter_op_parallelism_threads(config.tf_threads)
        except RuntimeError:  # already initialised in this process
            pass
        from tf_metarl.serving.models import ServedModel
        self.model = ServedModel(spec)
        self.config = config
        self._predict_batch.set_max_batch_size(config.max_batch_size)
        self._predict_batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        # merged call size (requests) -> count, since the last batch_stats(reset=True)
        self._batch_sizes: collections.Counter = collections.Counter()

    async def handle(self, verb: str, version: int | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a routed request."""
        spec = self.model.spec
        try:
            rest.check_version(version, spec.version, spec.name)
            if verb == "status":
                return 200, rest.status_response(spec.version)
            if verb == "metadata":
                return 200, rest.metadata_response(spec.name, spec.version, self.model.signatures,
                                                   self.model.metadata)
            request = rest.parse_predict_body(body)
            arrays = rest.check_inputs(request, self.model.signatures, self.model.metadata,
                                       self.config.max_request_rows)
        except rest.RestError as e:
            return e.status, rest.error_body(e.message)
        status, outputs = await self._predict_batch((request.signature_name, arrays))
        if status != 200:
            return status, outputs
        return 200, rest.predict_response(outputs, request.row_format)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def _predict_batch(self, items: Sequence[tuple[str, dict]]) -> list[tuple[int, Any]]:
        """Merges the requests of each (signature, input shapes) group into one call."""
        groups: dict[tuple, list[int]] = collections.defaultdict(list)
        for i, (signature, arrays) in enumerate(items):
            groups[rest.batch_key(signature, arrays)].append(i)
        results: list[Any] = [None] * len(items)
        for key, members in groups.items():
            signature = key[0]
            merged, sizes = rest.merge_requests([items[i][1] for i in members])
            self._batch_sizes[len(members)] += 1
            try:
                outputs = self.model.call(signature, merged)
            except Exception as e:  # noqa: BLE001 -- one group's failure answers its requests only
                from tf_metarl.export.errors import first_line
                status = 400 if type(e).__name__ == "InvalidArgumentError" else 500
                for i in members:
                    results[i] = (status, rest.error_body(f"{signature!r} failed: {first_line(e)}"))
                continue
            for i, part in zip(members, rest.split_outputs(outputs, sizes)):
                results[i] = (200, part)
        return results

    def batch_stats(self, reset: bool = False) -> dict[int, int]:
        """Merged call size (requests per signature call) -> number of calls."""
        out = dict(self._batch_sizes)
        if reset:
            self._batch_sizes.clear()
        return out


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1024)
class Router:
    """HTTP ingress: TF Serving's paths to the models' deployments."""

    def __init__(self, models: dict, versions: dict[str, int]):
        self.models = models  # name -> DeploymentHandle of its PolicyModel
        self.versions = versions

    async def __call__(self, request):
        from starlette.responses import JSONResponse
        path = request.url.path
        if path.rstrip("/") == HEALTH_PATH:
            return JSONResponse({"status": "ok", "models": self.versions})
        try:
            route = rest.parse_route(request.method, path)
            if route.model not in self.models:
                raise rest.RestError(404, f"servable not found for request: unknown model "
                                          f"{route.model!r} (serving {sorted(self.models)})")
        except rest.RestError as e:
            return JSONResponse(rest.error_body(e.message), status_code=e.status)
        body = await request.body() if route.verb == "predict" else b""
        status, payload = await self.models[route.model].handle.remote(route.verb, route.version, body)
        try:
            rest.check_finite_json(payload)
        except ValueError as e:
            status, payload = 500, rest.error_body(f"{route.model!r}: {e}")
        return JSONResponse(payload, status_code=status)


def build_app(specs: Sequence[ModelSpec], config: ServingConfig):
    """The bound application: a Router over one PolicyModel deployment per model."""
    config.check()
    models = {s.name: PolicyModel.options(name=f"model_{s.name}", num_replicas=config.replicas)
              .bind(s, config) for s in specs}
    return Router.bind(models, {s.name: s.version for s in specs})


def start(specs: Sequence[ModelSpec], config: ServingConfig, host: str = "127.0.0.1",
          port: int = 8501, ray_address: str | None = None, num_cpus: int | None = None):
    """Starts Ray (or joins ``ray_address``) and runs the application on host:port;
    returns the Router's handle. ``stop()`` ends it."""
    import ray
    if not ray.is_initialized():
        if ray_address:
            ray.init(address=ray_address, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False)
    serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
    return serve.run(build_app(specs, config), name=APP_NAME, route_prefix="/")


def model_handle(name: str):
    """The handle of a running model's deployment (for its batch_stats)."""
    return serve.get_deployment_handle(f"model_{name}", app_name=APP_NAME)


def stop(joined_cluster: bool = False) -> None:
    """Ends the application. On a cluster this process joined (``ray_address``) only this
    application is deleted, leaving Serve and other applications running; otherwise Serve
    and the local Ray this process started are shut down."""
    import ray
    try:
        if joined_cluster:
            serve.delete(APP_NAME)
        else:
            serve.shutdown()
    finally:
        if ray.is_initialized():
            ray.shutdown()  # on a joined cluster: disconnects
