"""Collection-route planning: a typed problem model solved with PyVRP, and benchmark instances.

``model`` holds the problem and plan types and the exception tree, ``instances`` the
CVRPLIB and Solomon readers and their cost conventions, ``solve`` the solver (the only
module that imports PyVRP), ``check`` an independent plan checker. Import each from its
module: importing one does not load the solver.
"""
