"""Data quality: discrepancy checks that flag counting problems with evidence, and corrected occupancy.

Flags explain; they never drop or change raw counts. `registry.check_site` runs every check,
`occupancy.corrected_occupancy` builds the corrected series, `runner` stores both after a load.
Heavy imports (pandas) live in the submodules, so importing this package stays cheap.
"""
