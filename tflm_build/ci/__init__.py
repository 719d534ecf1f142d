"""Build matrices: validation, planning, the parallel runner, reports and CI workflow files.
"""
