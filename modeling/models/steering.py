"""Steering evaluations: model backends, query sets, steered responses, judge windows and response scores."""

from django.conf import settings
from django.db import models

from labeling.models import Campaign, PoolItem, Value


class ModelBackend(models.Model):
    """An LLM the platform can call: a local transformers model or an OpenAI-compatible chat endpoint.
    Secrets are never stored: `api_key_env` names the environment variable that holds the key."""

    class Kind(models.TextChoices):
        LOCAL = "local", "Local transformers model"
        OPENAI = "openai", "OpenAI-compatible endpoint"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    model = models.CharField(max_length=300)  # local path / package model id, or the endpoint's model name
    gguf_file = models.CharField(max_length=300, blank=True)
    endpoint_url = models.URLField(blank=True)
    api_key_env = models.CharField(max_length=100, blank=True)
    max_concurrency = models.PositiveSmallIntegerField(default=4)
    timeout_s = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    generation = models.JSONField(default=dict, blank=True)  # temperature, max_new_tokens, …
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # The annotator account the backend's judgments are stored under when it works a campaign as an LLM annotator
    # (modeling/services/llm_annotators.py). This link, not the account's name, is what marks a model annotator.
    annotator_account = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_backend"
    )

    def __str__(self) -> str:
        return self.name


class QuerySet(models.Model):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Query(models.Model):
    query_set = models.ForeignKey(QuerySet, on_delete=models.CASCADE, related_name="queries")
    text = models.TextField()
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["query_set", "position"]
        constraints = [models.UniqueConstraint(fields=["query_set", "position"], name="query_unique_position")]

    def __str__(self) -> str:
        return f"Query {self.position} of set {self.query_set_id}"


class SteeringEvaluation(models.Model):
    class PromptStyle(models.TextChoices):
        BASELINE = "baseline", "Unsteered baseline"
        PERSONA = "persona", "Persona with strength cue"
        USER_TEXTS = "user_texts", "User texts (few-shot from VIDB)"
        PROFILE = "profile", "Multi-value profile"
        ACTIVATION = "activation", "Activation steering (local models)"

    class Judge(models.TextChoices):
        LLM = "llm", "LLM judge"
        HUMAN = "human", "Human annotators (ranking campaign)"
        HIVES = "hives", "HiVES judge"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        WAITING_FOR_HUMANS = "waiting", "Waiting for human judgments"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200)
    backends = models.ManyToManyField(ModelBackend, related_name="evaluations")
    values = models.ManyToManyField(Value, related_name="+")
    levels = models.JSONField(default=list)  # e.g. [-2, -1, 0, 1, 2]
    # Multi-value profiles: [[{"value": "svt:benevolence", "level": 2}, …], …] (used with prompt_style=profile).
    profiles = models.JSONField(default=list, blank=True)
    prompt_style = models.CharField(max_length=16, choices=PromptStyle.choices, default=PromptStyle.PERSONA)
    include_baseline = models.BooleanField(default=True)
    query_set = models.ForeignKey(QuerySet, on_delete=models.PROTECT, related_name="+")
    judge = models.CharField(max_length=16, choices=Judge.choices, default=Judge.LLM)
    judge_backend = models.ForeignKey(ModelBackend, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    window_size = models.PositiveSmallIntegerField(default=6)  # k: the response + k − 1 anchors
    windows_per_response = models.PositiveSmallIntegerField(default=3)  # m
    human_campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seed = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    planned = models.JSONField(default=dict, blank=True)  # generations and judge calls, shown before launch
    report = models.JSONField(default=dict, blank=True)  # dose–response, steerability metrics
    job = models.ForeignKey("common.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Steering evaluation #{self.pk}: {self.name}"


class SteeredResponse(models.Model):
    """One generation: a backend answering a query under a steering condition. Recorded in full."""

    evaluation = models.ForeignKey(SteeringEvaluation, on_delete=models.CASCADE, related_name="responses")
    backend = models.ForeignKey(ModelBackend, on_delete=models.PROTECT, related_name="+")
    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="+")
    # The value whose intensity is measured (for profiles: each targeted value gets its own score rows).
    value = models.ForeignKey(Value, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    level = models.SmallIntegerField(null=True, blank=True)  # None = unsteered baseline
    condition = models.CharField(max_length=200)  # a stable key of the steering condition (for resumption)
    prompt = models.JSONField(default=list)  # chat messages sent
    response = models.TextField(blank=True)
    is_refusal = models.BooleanField(default=False)
    generation_seconds = models.FloatField(null=True, blank=True)
    # The probe pool item when humans judge it through a ranking campaign.
    probe_item = models.ForeignKey(PoolItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "backend", "query", "condition"], name="steered_response_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Response #{self.pk} of evaluation {self.evaluation_id} (level {self.level})"


class JudgeWindow(models.Model):
    """One window shown to a judge: the response among anchors, in a recorded, randomised order."""

    response = models.ForeignKey(SteeredResponse, on_delete=models.CASCADE, related_name="windows")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")
    judge = models.CharField(max_length=16)
    index = models.PositiveSmallIntegerField()
    # PoolItem ids of the anchors in the order shown, with None where the response stands.
    shown = models.JSONField()
    response_position = models.PositiveSmallIntegerField()
    anchor_intensities = models.JSONField(default=list)
    prompt = models.TextField(blank=True)
    raw_answers = models.JSONField(default=list)  # every attempt's raw text
    ordering = models.JSONField(null=True, blank=True)  # positions strongest → weakest, when valid
    is_valid = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "value", "judge", "index"], name="judge_window_unique")
        ]

    def __str__(self) -> str:
        return f"{self.judge} window {self.index} of response {self.response_id}"


class ResponseScore(models.Model):
    response = models.ForeignKey(SteeredResponse, on_delete=models.CASCADE, related_name="scores")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")
    judge = models.CharField(max_length=16)
    utility = models.FloatField()
    se = models.FloatField()
    intensity = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    n_windows = models.PositiveSmallIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)  # scale estimate, beat-all/lost-all flags

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "value", "judge"], name="response_score_unique")
        ]

    def __str__(self) -> str:
        return f"{self.judge} score of response {self.response_id} on value {self.value_id}"
