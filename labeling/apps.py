from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from common.jobs import register_job_handler

        register_job_handler("labeling.import_texts", "labeling.services.imports.import_job_handler")
        register_job_handler("labeling.quality_update", "labeling.services.quality.quality_update_job_handler")
