"""TRex STL profile: srv6bench scenario h-encaps-red-v6-2sid (see srv6bench_trex.py, README.md)."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srv6bench_trex import make_profile
SCENARIO = "h-encaps-red-v6-2sid"
Profile, register, packets = make_profile(SCENARIO)
