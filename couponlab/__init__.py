"""The ``couponlab`` command line: one entry point over the engine, simulation and load tests."""
