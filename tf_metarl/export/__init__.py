"""SavedModel export of trained explore/execute policies, and their evaluation.

Sides with different dependencies:

* ``exporter`` (needs the agents and training code): ``export_run(run_dir)`` writes one
  SavedModel with the signatures described in ``format``.
* ``policy`` and ``evaluation`` (need only TensorFlow, NumPy and ``tf_metarl.envs``):
  ``policy.load_policy(path)`` and ``evaluation.evaluate(policy, layouts, split, num_trials)``.
* ``portable`` (needs TensorFlow and tf2onnx) converts an export to ONNX or LiteRT, and
  ``runtime_policy`` (needs only NumPy and onnxruntime or ``ai-edge-litert``) plays it with
  the same ``evaluation`` functions.

What a consumer without tf_metarl needs is ``format.contract_document(metadata)``, written
to ``assets/README.md`` of every export.

This package's import does not pull in any side, so readers of exported policies never
import the agents, networks or training code.
"""

from tf_metarl.export.errors import (
    ExportError, IncompatibleLayoutError, NotAPolicyError, NotASavedModelError,
    PolicyNotFoundError, RunDirError)
from tf_metarl.export.format import FORMAT_VERSION, POLICY_SIGNATURES
