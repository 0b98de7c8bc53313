"""HiVES, the hierarchical value embedding space (method.md §2): a sentence encoder fine-tuned so that texts cluster
by value path and direction within each theory and align across theories.

Modules: paths.py (where encoders come from; the packaged base model), encoder.py (pooling, batched embedding),
data.py (examples, the three-level path cut, label arrays), sampler.py (Stage 1 and Stage 2 batches), losses.py
(hierarchical SupCon and the Stage 2 InfoNCE terms), train.py (the loop, checkpoints, resumption), frozen.py
(training the top layers from the cached output of the frozen ones), metrics.py (ranking accuracy, similarity
correlation, orthogonality, 1-NN accuracy), judge.py (ridge intensity heads), touche.py (Touché23-ValueEval folders
as examples). No Django here: modeling.services.hives adapts the platform.
"""
