"""What runs on a lent GPU machine: the bundle of packages it lacks (``bundle``) and ``run_paper.sh``."""
