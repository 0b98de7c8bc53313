"""Steering LLMs toward a value intensity: prompts (prompts.py) and activation steering of local models
(activation.py). Pure code: no Django, and torch loads only when activation steering is used."""
