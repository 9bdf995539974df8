"""Typography search: an LLM-guided genetic search over rendering configs (Glyph, arXiv 2510.17800).

* :mod:`.space` / :mod:`.knobs`: which RenderConfig keys are searched, over what, and the
  constraints between them (repaired, never rejected); the default space ships as
  ``default_space.yaml``.
* :mod:`.operators`, :mod:`.proposer`, :mod:`.breed`: classical mutation/crossover, the LLM
  proposer (any OpenAI-compatible endpoint), and the mix that makes a generation.
* :mod:`.selection`: the Pareto front over (accuracy, compression) and the scalar score.
* :mod:`.evaluators`: pluggable fitness (``ocr-fidelity``, ``ocr-ruler``, ``vlm-ruler``, ``synthetic``).
* :mod:`.store`, :mod:`.runner`: optuna RDB study shared by any number of worker processes.
* :mod:`.outputs`: best config JSON, Pareto CSV and plot, proposal log.
"""

from glyph.search.evaluators import Evaluation, Evaluator, evaluator_names, get_evaluator, register_evaluator
from glyph.search.outputs import ProposalLog, export
from glyph.search.proposer import LLMProposer, LLMSettings
from glyph.search.runner import RunSummary, SearchRunner, SearchSettings
from glyph.search.selection import Scoring, TrialRecord, pareto_front
from glyph.search.space import SearchSpace, SpaceError
from glyph.search.store import StudyStore

__all__ = [
    "Evaluation",
    "Evaluator",
    "LLMProposer",
    "LLMSettings",
    "ProposalLog",
    "RunSummary",
    "Scoring",
    "SearchRunner",
    "SearchSettings",
    "SearchSpace",
    "SpaceError",
    "StudyStore",
    "TrialRecord",
    "evaluator_names",
    "export",
    "get_evaluator",
    "pareto_front",
    "register_evaluator",
]
