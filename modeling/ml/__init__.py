"""ValueFlow's numerical core: pure numpy/scipy/torch/choix code with no Django, called by modeling's services.

Subpackages: `plackett_luce` (intensity fits from rankings). Services adapt ORM rows to arrays and write results back.
"""
