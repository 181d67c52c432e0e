"""Jobs: submit, watch and cancel distributed training on local MPI, Slurm and Kubernetes."""
