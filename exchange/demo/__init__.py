"""The demo city (信阳市): its people and registers, setup, the real-estate case and the story.

- :mod:`.city` — deterministic generated people, flats, companies;
- :mod:`.setup` — a demo exchange with its departments, publishing the city;
- :mod:`.case` — the real-estate matter's grants and certificates;
- :mod:`.story`, :mod:`.story_case` — ``govex demo``, step by step;
- :mod:`.samples` — example connector configs and their source data.
"""
