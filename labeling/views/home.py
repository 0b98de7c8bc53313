"""The home page: the theories and the 32 target values, plus what each role does next."""

from itertools import groupby

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from labeling.selectors import target_value_list, theory_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    targets = list(target_value_list())
    targets_by_theory = [(theory, list(values)) for theory, values in groupby(targets, key=lambda v: v.theory)]
    return render(
        request,
        "labeling/home.html",
        {"theories": theory_list(), "targets_by_theory": targets_by_theory, "target_count": len(targets)},
    )
