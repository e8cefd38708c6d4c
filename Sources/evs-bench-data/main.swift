print("evs-bench-data: not yet")
