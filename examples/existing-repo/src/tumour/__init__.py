"""A small tumour classifier: feature selection, training and export to a readiness bundle."""
