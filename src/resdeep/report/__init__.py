"""Reports: Figure 6-style curves and Table 6-style tables from run folders, beside the paper's numbers."""
