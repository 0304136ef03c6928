"""Routing models: one protocol (fit / predict_quality / strong_probability / save / load).

Build or load routers by name through :mod:`routegraph.routers.registry` (``make_router``,
``load_router``); names and what they do:

* ``random`` - baseline, random scores (APGR 0.5 in expectation);
* ``knn`` - mean quality of the k most similar training prompts;
* ``sw_ranking`` - RouteLLM's similarity-weighted Bradley-Terry ranking;
* ``matrix_factorization`` - RouteLLM's bilinear prompt x model score;
* ``category`` - best model per (predicted) category;
* ``category_knn`` - kNN shrunk towards the predicted category's mean;
* ``stacked`` - ridge on embedding, prompt features, category prior and kNN;
* ``boosted`` - boosted trees on the same signals (the shipped default);
* ``heuristic`` - untrained length/keyword rule;
* ``encoder_classifier`` / ``causal_llm`` - neural routers (torch).

Thresholds for a target strong-call share, cost or quality: :mod:`routegraph.routers.calibration`.
"""

from routegraph.routers.base import Router

__all__ = ["Router"]
