"""Long-form jobs: what they ask for (script.py), where they are kept (store.py), how they sound
(loudness.py) and what they give back (track.py). The service that runs them: service/jobs.py."""
