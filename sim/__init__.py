"""Campaign forecasts: scenario files, SimPy customer populations, Monte Carlo runs, reports."""
