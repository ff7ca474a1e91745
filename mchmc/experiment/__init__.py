"""The paper's K-fold experiment: the cells, per-image evaluation, the tables
(7-10) beside the paper's numbers, the report and its figures, Grad-CAM."""
