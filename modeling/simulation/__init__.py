"""Simulated annotators: bots that take part in a campaign through the platform's real HTTP API and answer from a
known ground truth under a noise model, so researchers can plan annotation budgets and the team can measure the
annotation path's throughput and the intensity engine's end-to-end accuracy.

- annotators.py: the truth file, the answer model (Thurstonian/Plackett–Luce noise, spammers, side bias), the
  per-bot HTTP client and the thread pool that runs the bots.
- server.py: a throwaway PostgreSQL database and a gunicorn server on loopback, for the benchmarks.
- report.py: how close the published intensities came to the truth (Spearman, interval coverage).
"""
