"""The stranger test: what anyone can learn about people from the public log and routes alone.

``economy`` drives a realistic economy through the real server and records the
ground truth; ``material`` collects what a stranger can fetch (checkpoint, the
entries of the tiles, the answers of every public route of the real app);
``attacks`` are plain functions over that material that return their claims;
``scoring`` scores the claims against the ground truth and says, with fixed
margins, whether an attack succeeded.  ``docs/privacy.md`` ("The stranger test").
"""
