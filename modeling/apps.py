from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "modeling"
    verbose_name = "Modeling"

    def ready(self) -> None:
        from common.jobs import register_job_handler

        register_job_handler("modeling.fit_value", "modeling.services.fits.fit_value_job")
        register_job_handler("modeling.backend_test", "modeling.services.backends.backend_test_job")
        register_job_handler("modeling.steering_evaluation", "modeling.services.evaluations.evaluation_run_job")
        register_job_handler("modeling.fit_metrics", "modeling.services.agreement.fit_metrics_job")
        register_job_handler("modeling.budget_plan", "modeling.services.planner.budget_plan_job")
        register_job_handler("modeling.llm_annotate", "modeling.services.llm_annotators.llm_annotate_job")
        register_job_handler("modeling.hives_train", "modeling.services.hives.hives_train_job")
        register_job_handler("modeling.hives_embed", "modeling.services.hives.hives_embed_job")
