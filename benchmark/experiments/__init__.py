"""Stage: experiments -- one run, a grid of runs, the speed probe and predict."""
